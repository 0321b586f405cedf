"""The corpus of bad inputs: every case is a command a user could type, with what it
must say. `tests/test_bad_inputs.py` runs each one; `python tests/bad_inputs.py`
writes the table of reports/reliability.md from the messages the cases really get.

A case is (name, what it is about, argv, a fragment its one-line message holds).
In argv, "{tmp}" is a temp folder that `make_files` has filled, "{run}" a finished
run folder of a tiny classifier, "{running}" a run folder whose run never finished.
"""

import gzip
import io
import json
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np

CASES = [
    # --- commands and options ---
    ("unknown task", "command", ["clasify"], "did you mean 'classify'"),
    ("unknown command flag", "command", ["classify", "--frobnicate"], "unrecognized arguments: --frobnicate"),
    ("abbreviated option", "option", ["classify", "--epoch", "3"], "unrecognized arguments: --epoch 3"),
    ("zero epochs", "option", ["classify", "--epochs", "0"], "epochs=0: expected a positive number"),
    ("negative epochs", "option", ["classify", "--epochs", "-3"], "epochs=-3"),
    ("epochs not a number", "option", ["classify", "--epochs", "abc"], "epochs=abc"),
    ("epochs infinite", "option", ["classify", "--epochs", "inf"], "epochs=inf"),
    ("learning rate NaN", "option", ["classify", "--learning-rate", "nan"], "learning_rate=nan: expected a finite number"),
    ("learning rate infinite", "option", ["classify", "--learning-rate", "inf"], "learning_rate=inf"),
    ("negative learning rate", "option", ["classify", "--learning-rate", "-1"], "learning_rate=-1.0: expected a positive number"),
    ("dropout above 1", "option", ["classify", "--dropout", "1.5"], "dropout=1.5: expected a value in [0, 1)"),
    ("zero batch size", "option", ["classify", "--batch-size", "0"], "batch_size=0"),
    ("unknown model", "option", ["classify", "--model", "transformer"], "model=transformer: choose mlp or cnn"),
    ("unknown augmentation", "option", ["classify", "--augment", "rotate"], "augment=rotate"),
    ("unknown CNN head", "option", ["classify", "--head", "dense"], "head=dense: choose gap or flatten"),
    ("an option of the other model", "option", ["classify", "--model", "mlp", "--head", "flatten"],
     "head=flatten is an option of --model cnn"),
    ("validation share of 1", "option", ["classify", "--validation-fraction", "1"], "validation_fraction=1"),
    ("negative width", "option", ["classify", "--widths", "32,-1"], "widths="),
    ("zero train limit", "option", ["classify", "--train-limit", "0"], "train_limit=0"),
    ("negative seed", "option", ["classify", "--seed", "-1"], "seed=-1"),
    ("seed beyond 2**32", "option", ["classify", "--seed", "4294967296"], "seed=4294967296: expected a value in [0, 2**32 - 1]"),
    ("--set without =", "option", ["classify", "--set", "epochs"], "expected key=value"),
    ("--set unknown field", "option", ["classify", "--set", "nosuchfield=1"], "nosuchfield"),
    ("unknown backend", "option", ["classify", "--backend", "theano"], "invalid choice: 'theano'"),
    ("unknown precision", "option", ["classify", "--precision", "float8"], "invalid choice: 'float8'"),
    ("--quick with --publish", "option", ["classify", "--quick", "--publish"], "--publish takes a full run"),
    ("option a task does not use", "option", ["xor", "--batch-size", "8"], "does not use --batch-size"),
    ("perceptron step NaN", "option", ["perceptron", "--lr", "nan"], "lr=nan"),
    ("perceptron unknown mode", "option", ["perceptron", "--modes", "sideways"], "sideways"),
    ("xor unknown init", "option", ["xor", "--init", "ones"], "init=ones"),
    ("distance unknown metric", "option", ["distance", "--metrics", "hamming"], "hamming"),
    ("vae negative beta", "option", ["vae", "--beta", "-1"], "beta=-1"),
    ("contrastive unknown method", "option", ["contrastive", "--method", "moco"], "method=moco"),
    ("clock image too small", "option", ["clock", "--size", "8"], "size=8"),
    ("clock unknown formulation", "option", ["clock", "--formulations", "guess"], "guess"),
    ("adversarial epsilon above 1", "option", ["adversarial", "--epsilon", "2"], "epsilon=2"),
    ("gan unknown variant", "option", ["gan", "--set", "variant=hinge"], "variant=hinge"),
    ("scratch-mlp zero hidden", "option", ["scratch-mlp", "--set", "hidden=0"], "hidden=0"),
    # --- where things go ---
    ("--out is a file", "paths", ["classify", "--quick", "--out", "{tmp}/a-file"], "is a file, not a folder"),
    ("--data-dir missing", "paths", ["classify", "--data-dir", "/no/such/dir"], "--data-dir /no/such/dir: no such directory"),
    ("unknown data set", "data", ["classify", "--quick", "--set", "dataset=nosuchset"], "nosuchset"),
    ("data set in no place", "data", ["classify", "--quick", "--dataset", "leiden_digits", "--data-dir", "{tmp}/empty"],
     "leiden_digits"),
    # --- data files ---
    ("image folder with one class", "data file",
     ["classify", "--quick", "--dataset", "image_folder", "--data-dir", "{tmp}/one-class"],
     "a classifier needs at least two"),
    ("image folder without train/", "data file",
     ["classify", "--quick", "--dataset", "image_folder", "--data-dir", "{tmp}/empty"], "no train/ subfolder"),
    ("IDX file with a bad magic number", "data file",
     ["classify", "--quick", "--data-dir", "{tmp}/bad-idx"], "magic"),
    ("mnist.npz with a label out of range", "data file",
     ["classify", "--quick", "--dataset", "mnist", "--data-dir", "{tmp}/mnist-labels"], "labels run from 0 to 12"),
    ("mnist.npz truncated", "data file",
     ["classify", "--quick", "--dataset", "mnist", "--data-dir", "{tmp}/mnist-truncated"], "mnist"),
    ("CIFAR-10 pickle that calls a function", "data file",
     ["classify", "--quick", "--dataset", "cifar10", "--data-dir", "{tmp}/cifar-evil"], "refusing to load posix.system"),
    # --- model files ---
    ("predict: no such model", "model file", ["predict", "{tmp}/nowhere", "{tmp}/x.png"], "no such file or folder"),
    ("predict: folder without a model", "model file", ["predict", "{tmp}/empty", "{tmp}/x.png"], "no model.keras"),
    ("predict: not a .keras file", "model file", ["predict", "{tmp}/model.txt", "{tmp}/x.png"], "not a .keras model file"),
    ("predict: .keras that is no zip", "model file", ["predict", "{tmp}/fake.keras", "{tmp}/x.png"], "not a zip archive"),
    ("predict: truncated .keras", "model file", ["predict", "{tmp}/truncated.keras", "{tmp}/x.png"], ".keras"),
    ("predict: Lambda layer", "model file", ["predict", "{tmp}/lambda.keras", "{tmp}/x.png"], "Lambda"),
    ("predict: a class from elsewhere", "model file", ["predict", "{tmp}/foreign.keras", "{tmp}/x.png"], "refused: it names os.system"),
    ("predict: missing input", "input", ["predict", "{run}", "{tmp}/missing.png"], "no such file"),
    ("predict: empty folder", "input", ["predict", "{run}", "{tmp}/empty"], "no images in this folder"),
    ("predict: truncated image", "input", ["predict", "{run}", "{tmp}/truncated.png"], "not a readable image"),
    ("predict: text named .png", "input", ["predict", "{run}", "{tmp}/text.png"], "not a readable image"),
    ("predict: not an image", "input", ["predict", "{run}", "{tmp}/notes.txt"], "expected an image"),
    ("predict: array of the wrong rank", "input", ["predict", "{run}", "{tmp}/rank.npy"], "does not fit the model"),
    ("predict: .npz of two arrays", "input", ["predict", "{run}", "{tmp}/two.npz"], "['a', 'b']"),
    ("predict: --top 0", "input", ["predict", "{run}", "{tmp}/x.png", "--top", "0"], "--top 0"),
    ("predict: --output .txt", "input", ["predict", "{run}", "{tmp}/x.png", "--output", "{tmp}/p.txt"], ".csv or .json"),
    ("predict: --samples for a classifier", "input", ["predict", "{run}", "--samples", "4"], "--samples is for GANs and VAEs"),
    ("predict: no input", "input", ["predict", "{run}"], "no INPUT given"),
    # --- tune and export ---
    ("tune: unknown tuner", "tune", ["tune", "classify", "--tuner", "annealing"], "invalid choice: 'annealing'"),
    ("tune: --max-trials 0", "tune", ["tune", "classify", "--max-trials", "0"], "--max-trials 0: expected 1 or more"),
    ("tune: a test-set objective", "tune", ["tune", "classify", "--objective", "test_accuracy"], "measured on the test set"),
    ("tune: a task with no search space", "tune", ["tune", "xor"], "has no search space"),
    ("tune: grid over a range", "tune", ["tune", "classify", "--tuner", "grid", "--quick"], "--tuner grid takes a space of choices"),
    ("export: unknown format", "export", ["export", "{run}", "--format", "pickle"], "unknown format 'pickle'"),
    ("export: no such model", "export", ["export", "/no/such/model.keras", "--format", "onnx"], "no such file or folder"),
    ("export: Lambda layer", "model file", ["export", "{tmp}/lambda.keras", "--format", "litert"], "Lambda"),
    ("export: a class from elsewhere", "model file", ["export", "{tmp}/foreign.keras", "--format", "litert"], "refused: it names os.system"),
    ("export: --out is a file", "export", ["export", "{run}", "--format", "litert", "--out", "{tmp}/notes.txt"], "is a file, not a folder"),
    # --- publishing ---
    ("report: not a run folder", "report", ["report", "/no/such/run"], "not a run folder (no config.json)"),
    ("report: a run that never finished", "report", ["report", "{running}"], "not a finished run folder"),
    ("report: a key leading outside plots/", "report", ["report", "{run}", "--key", "../../x"], "key"),
    ("data: unknown action", "command", ["data", "frobnicate"], "invalid choice: 'frobnicate'"),
]


def one_line_error(result, *fragments):
    """Assert that a run_cli result is exit 2 with one line `kerasdl: error: ...` holding
    each fragment; returns that line."""
    code, out, err = result
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kerasdl: error:"), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def make_files(tmp):
    """The files and folders the cases name, in `tmp`."""
    from PIL import Image

    tmp = Path(tmp)
    (tmp / "empty").mkdir()
    (tmp / "a-file").write_text("not a folder")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(tmp / "x.png")
    (tmp / "truncated.png").write_bytes((tmp / "x.png").read_bytes()[:60])
    (tmp / "text.png").write_text("hello")
    (tmp / "notes.txt").write_text("hello")
    np.save(tmp / "rank.npy", np.zeros((2, 3, 8, 8, 1)))
    np.savez(tmp / "two.npz", a=np.zeros(2), b=np.zeros(2))

    # image folder with a single class
    for split in ("train", "test"):
        (tmp / "one-class" / split / "cats").mkdir(parents=True)
        for k in range(4):
            Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(
                tmp / "one-class" / split / "cats" / f"{k}.png")

    # Fashion-MNIST IDX files whose magic number is wrong
    folder = tmp / "bad-idx" / "fashion-mnist"
    folder.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (folder / f"{name}.gz").write_bytes(gzip.compress(struct.pack(">IIII", 12345, 2, 28, 28) + bytes(2 * 784)))

    # keras.datasets' mnist.npz, with a label 12 among the digits, and a truncated copy
    x = rng.integers(0, 256, (20, 28, 28), dtype=np.uint8)
    y = np.arange(20) % 10
    y_bad = y.copy()
    y_bad[3] = 12
    (tmp / "mnist-labels").mkdir()
    np.savez(tmp / "mnist-labels" / "mnist.npz", x_train=x, y_train=y_bad, x_test=x, y_test=y)
    (tmp / "mnist-truncated").mkdir()
    np.savez(tmp / "mnist-truncated" / "mnist.npz", x_train=x, y_train=y, x_test=x, y_test=y)
    whole = (tmp / "mnist-truncated" / "mnist.npz").read_bytes()
    (tmp / "mnist-truncated" / "mnist.npz").write_bytes(whole[: len(whole) // 2])

    # a CIFAR-10 batch whose pickle calls os.system
    evil = tmp / "cifar-evil" / "cifar-10-batches-py"
    evil.mkdir(parents=True)

    class Evil:
        def __reduce__(self):
            import os

            return os.system, ("echo pwned",)

    for name in [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch", "batches.meta"]:
        (evil / name).write_bytes(pickle.dumps(Evil()))

    # model files
    (tmp / "model.txt").write_text("not a model")
    (tmp / "fake.keras").write_text("not a zip")
    _keras_files(tmp)


def _keras_files(tmp):
    import keras

    inputs = keras.Input((12, 12, 3))
    lam = keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2)(inputs))
    lam.save(tmp / "lambda.keras")
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    plain.save(tmp / "plain.keras")
    whole = (tmp / "plain.keras").read_bytes()
    (tmp / "truncated.keras").write_bytes(whole[: len(whole) // 2])
    # a model whose config names a class of another module: safe mode must not import it
    with zipfile.ZipFile(tmp / "plain.keras") as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(parts["config.json"])
    config["module"], config["class_name"], config["registered_name"] = "os", "system", "os>system"
    parts["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(tmp / "foreign.keras", "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)


def make_runs(tmp):
    """{run}: a finished run folder of a tiny classifier; {running}: one whose run never ended."""
    import keras

    from kerasdl import runs
    from kerasdl.models import classifiers

    keras.utils.set_random_seed(0)
    run = runs.Run("classify", root=Path(tmp) / "runs", run_id="finished")
    run.write_json("config.json", {"task": "classify", "config": {"dataset": "nowhere"}, "quick": False})
    run.save_model(classifiers.cnn((12, 12, 3), 3, widths=(4,), dropout=0.0, head_dropout=0.0))
    run.write_classes(["a", "b", "c"], (0, 255))
    (run.dir / "report.md").write_text("# a report\n")
    run.set_status("finished")
    running = runs.Run("classify", root=Path(tmp) / "runs", run_id="running")
    running.write_json("config.json", {"task": "classify", "config": {}, "quick": False})
    running.set_status("running")
    return {"run": str(run.dir), "running": str(running.dir)}


def argv_of(case, places):
    return [part.format(**places) for part in case[2]]


def report_table(results):
    """The markdown table of reports/reliability.md: one row per case, its real message."""
    lines = ["| # | case | kind | exit | the message (one line) |", "|---|---|---|---|---|"]
    for k, (case, code, message) in enumerate(results, 1):
        shown = message.replace("|", "\\|").replace(str(case[-1]), str(case[-1]))
        lines.append(f"| {k} | {case[0]} | {case[1]} | {code} | `{shown}` |")
    return "\n".join(lines)


if __name__ == "__main__":  # python tests/bad_inputs.py > table.md
    import contextlib
    import os
    import sys
    import tempfile

    os.environ.setdefault("KERASDL_QUIET", "1")
    os.environ.setdefault("KERASDL_OFFLINE", "1")
    from kerasdl import cli

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["KERASDL_HOME"] = tmp
        make_files(tmp)
        places = {"tmp": tmp, **make_runs(tmp)}
        results = []
        for case in CASES:
            err = io.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = cli.main(argv_of(case, places) + ["--out", f"{tmp}/out"]
                                if case[2][0] not in ("predict", "report", "data") and "--out" not in case[2]
                                else argv_of(case, places))
            message = err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else ""
            results.append((case, code, message.replace(tmp, "TMP")))
        print(report_table(results))
        bad = [r for r in results if r[1] != 2 or r[0][3].format(tmp="TMP") not in r[2]]
        print(f"\n{len(results)} cases, {len(bad)} not as expected", file=sys.stderr)
        for case, code, message in bad:
            print(f"  {case[0]}: exit {code}: {message}", file=sys.stderr)
