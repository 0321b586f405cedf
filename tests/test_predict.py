"""`predict`: tiny models saved as run folders, real PNG/JPEG files, and one clear
line for every input that does not fit."""

import csv
import json

import numpy as np
import pytest
from PIL import Image

import keras

from kerasdl import predict, runs
from kerasdl.models import classifiers
from bad_inputs import one_line_error

pytestmark = pytest.mark.backends

CLASSES = ["cat", "dog", "bird"]


def _run_folder(root, model, task="classify", classes=CLASSES, value_range=(0, 255), config=None):
    """A run folder as a task leaves it: config.json, model.keras, classes.json."""
    run = runs.Run(task, root=root, run_id="r1")
    run.write_json("config.json", {"task": task, "config": config or {"dataset": "nowhere"}})
    run.save_model(model)
    if classes is not None:
        run.write_classes(classes, value_range)
    return run.dir


@pytest.fixture
def cnn_run(tmp_path):
    keras.utils.set_random_seed(0)
    model = classifiers.cnn((8, 8, 1), 3, widths=(4,), dropout=0.0, head_dropout=0.0)
    return _run_folder(tmp_path / "runs", model), model


def _images(folder):
    """A colour PNG of another size and a greyscale JPEG: both must be converted."""
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    png, jpg = folder / "a.png", folder / "b.jpg"
    Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)).save(png)
    Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(jpg, quality=95)
    return png, jpg


def test_a_run_folder_classifies_images_of_any_size_and_channels(run_cli, cnn_run, tmp_path):
    folder, model = cnn_run
    png, jpg = _images(tmp_path / "images")
    code, out, err = run_cli("predict", folder, png, jpg, "--top", "2")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].split() == ["input", "rank", "class", "probability"]
    assert len(lines) == 1 + 2 * 2

    # the same numbers as the model on the converted pixels (grey, resized, 0-255)
    grey = np.asarray(Image.open(png).convert("L").resize((8, 8), Image.BILINEAR), np.float32)
    expected = model.predict(grey[None, ..., None], verbose=0)[0]
    best = np.argsort(-expected)[:2]
    first = lines[1].split()
    assert first[0] == str(png) and first[1] == "1" and first[2] == CLASSES[best[0]]
    assert float(first[3]) == pytest.approx(expected[best[0]], abs=1e-4)
    assert lines[2].split()[2] == CLASSES[best[1]]


def test_a_folder_of_images_and_the_csv_and_json_outputs(run_cli, cnn_run, tmp_path):
    folder, _ = cnn_run
    _images(tmp_path / "images")
    (tmp_path / "images" / "notes.txt").write_text("not an image")  # skipped in a folder
    code, _, err = run_cli("predict", folder, tmp_path / "images", "--output", tmp_path / "out.csv")
    assert code == 0, err
    rows = list(csv.DictReader((tmp_path / "out.csv").open()))
    assert [r["input"] for r in rows] == [str(tmp_path / "images" / n) for n in ("a.png", "b.jpg")]
    assert {r["class"] for r in rows} <= set(CLASSES) and all(0 <= float(r["probability"]) <= 1 for r in rows)

    code, _, err = run_cli("predict", folder, tmp_path / "images", "--top", "3",
                           "--output", tmp_path / "out.json")
    assert code == 0, err
    saved = json.loads((tmp_path / "out.json").read_text())
    assert saved["task"] == "classify" and saved["model"].endswith("model.keras")
    top = saved["predictions"][0]["top"]
    assert sorted(t["class"] for t in top) == sorted(CLASSES)
    assert sum(t["probability"] for t in top) == pytest.approx(1.0, abs=1e-4)


def test_arrays_in_the_data_sets_values(run_cli, cnn_run, tmp_path):
    folder, model = cnn_run
    x = np.random.default_rng(1).integers(0, 256, (3, 8, 8, 1)).astype(np.uint8)
    np.save(tmp_path / "batch.npy", x)
    np.save(tmp_path / "grey.npy", x[:2, ..., 0])  # no channel axis
    np.savez(tmp_path / "set.npz", x_test=x, y_test=np.zeros(3))
    names, batch = predict.read_inputs([tmp_path / "batch.npy", tmp_path / "grey.npy", tmp_path / "set.npz"],
                                       predict.load(folder))
    assert batch.shape == (8, 8, 8, 1) and names[3] == f"{tmp_path / 'grey.npy'}[0]"
    code, out, err = run_cli("predict", folder, tmp_path / "batch.npy")
    assert code == 0, err
    expected = model.predict(x.astype(np.float32), verbose=0).argmax(axis=1)
    assert [line.split()[1] for line in out.strip().splitlines()[1:]] == [CLASSES[c] for c in expected]


def test_a_bare_keras_file_names_its_classes_by_number(run_cli, tmp_path):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
    model.save(tmp_path / "m.keras")
    np.save(tmp_path / "x.npy", np.ones((2, 4), np.float32))
    code, out, err = run_cli("predict", tmp_path / "m.keras", tmp_path / "x.npy")
    assert code == 0, err
    assert out.strip().splitlines()[1].split()[1] in {"0", "1", "2"}


def test_scores_that_are_not_probabilities_are_called_scores(tmp_path):
    """A nearest-centroid or perceptron model outputs class scores, not probabilities."""
    inputs = keras.Input((8, 8, 1))
    dense = keras.layers.Dense(3)
    model = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    dense.set_weights([np.zeros((64, 3), np.float32), np.array([-5.0, 7.0, 2.0], np.float32)])
    predictor = predict.load(_run_folder(tmp_path, model, task="distance"))
    [row] = predict.predict(predictor, ["x"], np.zeros((1, 8, 8, 1), np.float32), top=2)
    assert row["top"] == [{"class": "dog", "score": 7.0}, {"class": "bird", "score": 2.0}]


def test_one_sigmoid_unit_reads_as_the_second_of_two_classes(tmp_path):
    inputs = keras.Input((2,))
    dense = keras.layers.Dense(1, activation="sigmoid")
    model = keras.Model(inputs, dense(inputs))
    dense.set_weights([np.zeros((2, 1), np.float32), np.array([np.log(3.0)], np.float32)])  # p = 0.75
    predictor = predict.load(_run_folder(tmp_path, model, task="softmax-regression", classes=["3", "5"]))
    [row] = predict.predict(predictor, ["x"], np.zeros((1, 2), np.float32))
    assert row["top"][0]["class"] == "5" and row["top"][0]["probability"] == pytest.approx(0.75, abs=1e-6)


def test_images_map_onto_the_value_range_the_model_trained_on(tmp_path):
    model = classifiers.cnn((8, 8, 1), 3, widths=(4,), value_range=(-1, 1))
    predictor = predict.load(_run_folder(tmp_path, model, value_range=(-1, 1)))
    Image.fromarray(np.array([[0, 255]] * 4, np.uint8).repeat(4, axis=1)).save(tmp_path / "x.png")
    pixels = predict.read_image(tmp_path / "x.png", predictor)
    assert pixels.shape == (8, 8, 1) and pixels.min() == -1 and pixels.max() == 1


def test_a_run_folder_without_classes_json_takes_its_data_sets_names(tmp_path, toy_dataset):
    def make(n, seed):
        rng = np.random.default_rng(seed)
        return rng.integers(0, 256, (n, 8, 8, 1), dtype=np.uint8), rng.integers(0, 3, n)

    toy_dataset("toy_predict", make, ["x", "y", "z"], train=4, test=4, description="toy")
    model = classifiers.cnn((8, 8, 1), 3, widths=(4,))
    predictor = predict.load(_run_folder(tmp_path, model, classes=None, config={"dataset": "toy_predict"}))
    assert predictor.class_names == ["x", "y", "z"]


def test_the_clock_reader_reads_hh_mm(run_cli, tmp_path):
    from kerasdl.tasks.clock import model as clock_models
    from kerasdl.tasks.clock import times

    model = clock_models.build("multihead", (32, 32, 1), input_size=32, widths=(4,), dense=8)
    # Zero kernels: whatever the image, the hour reads 3 and the minute hand 15.
    hour, minute = model.get_layer("hour"), model.get_layer("minute")
    hour.set_weights([np.zeros_like(hour.kernel), np.eye(12, dtype=np.float32)[3] * 10])
    minute.set_weights([np.zeros_like(minute.kernel), times.encode_angle(15, 60)])
    folder = _run_folder(tmp_path / "runs", model, task="clock", classes=None)
    Image.fromarray(np.full((50, 40, 3), 200, np.uint8)).save(tmp_path / "clock.png")
    code, out, err = run_cli("predict", folder, tmp_path / "clock.png")
    assert code == 0, err
    assert out.strip().splitlines() == ["input" + " " * (len(str(tmp_path / "clock.png")) - 3) + "time",
                                        f"{tmp_path / 'clock.png'}  03:15"]
    one_line_error(run_cli("predict", folder, tmp_path / "clock.png", "--top", "2"), "clock reader")


def test_a_lambda_layer_is_refused_in_safe_mode(run_cli, tmp_path):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2)(inputs))
    model.save(tmp_path / "lambda.keras")
    np.save(tmp_path / "x.npy", np.ones((1, 4), np.float32))
    one_line_error(run_cli("predict", tmp_path / "lambda.keras", tmp_path / "x.npy"), "Lambda", "safe mode")


def test_every_bad_input_is_one_line_and_exit_2(run_cli, cnn_run, tmp_path):
    folder, _ = cnn_run
    png, _ = _images(tmp_path / "images")
    (tmp_path / "empty").mkdir()
    (tmp_path / "truncated.png").write_bytes(png.read_bytes()[:100])
    (tmp_path / "text.png").write_text("hello")
    (tmp_path / "model.txt").write_text("not a model")
    (tmp_path / "fake.keras").write_text("not a zip")
    np.save(tmp_path / "rank.npy", np.zeros((2, 3, 8, 8, 1)))
    np.savez(tmp_path / "two.npz", a=np.zeros(2), b=np.zeros(2))
    (tmp_path / "notes.txt").write_text("hi")

    one_line_error(run_cli("predict", folder, tmp_path / "missing.png"), "no such file")
    one_line_error(run_cli("predict", tmp_path / "nowhere", png), "no such file")
    one_line_error(run_cli("predict", folder, tmp_path / "empty"), "no images in this folder")
    one_line_error(run_cli("predict", folder, tmp_path / "truncated.png"), "not a readable image")
    one_line_error(run_cli("predict", folder, tmp_path / "text.png"), "not a readable image")
    one_line_error(run_cli("predict", folder, tmp_path / "notes.txt"), "expected an image")
    one_line_error(run_cli("predict", tmp_path / "model.txt", png), "not a .keras model file")
    one_line_error(run_cli("predict", tmp_path / "fake.keras", png), "not a zip archive")
    one_line_error(run_cli("predict", tmp_path / "empty", png), "no model.keras")
    one_line_error(run_cli("predict", folder, tmp_path / "rank.npy"), "(2, 3, 8, 8, 1)", "(N, 8, 8, 1)")
    one_line_error(run_cli("predict", folder, tmp_path / "two.npz"), "['a', 'b']")
    one_line_error(run_cli("predict", folder, png, "--output", tmp_path / "out.txt"), ".csv or .json")
    one_line_error(run_cli("predict", folder, png, "--top", "0"), "--top 0")
    one_line_error(run_cli("predict", folder), "INPUT")


def test_the_adversarial_trainer_predicts_with_its_classifier(run_cli, tmp_path):
    """adversarial's model.keras is a subclassed training wrapper, registered by its package."""
    from kerasdl.tasks.adversarial.trainer import AdversarialTrainer

    keras.utils.set_random_seed(0)
    classifier = classifiers.cnn((8, 8, 1), 3, widths=(4,), dropout=0.0, head_dropout=0.0)
    wrapper = AdversarialTrainer(classifier, epsilon=8.0, value_range=(0, 255))
    wrapper.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 1)).astype(np.float32)
    wrapper.fit(x, np.array([0, 1]), epochs=1, verbose=0)
    folder = _run_folder(tmp_path / "runs", wrapper, task="adversarial")
    np.save(tmp_path / "x.npy", x)
    code, out, err = run_cli("predict", folder, tmp_path / "x.npy")
    assert code == 0, err
    expected = classifier.predict(x, verbose=0).argmax(axis=1)
    assert [line.split()[1] for line in out.strip().splitlines()[1:]] == [CLASSES[c] for c in expected]


def test_a_classify_run_folder_predicts_with_its_own_class_names(quick_run, toy_dataset, run_cli, tmp_path):
    """End to end: the task writes classes.json beside model.keras; predict needs nothing else."""
    def bars(n, seed):
        rng = np.random.default_rng(seed)
        y = rng.integers(0, 2, n)
        x = np.zeros((n, 8, 8, 1), np.uint8)
        for k, label in enumerate(y):
            x[k, slice(0, 4) if label == 0 else slice(4, 8)] = 255
        return x, y

    toy_dataset("toy_bars", bars, ["top", "bottom"], train=96, test=32, description="8x8 bars")
    folder, _ = quick_run("classify", "--set", "dataset=toy_bars", "--set", "widths=4",
                          files=("model.keras", "classes.json"))
    assert json.loads((folder / "classes.json").read_text()) == {"class_names": ["top", "bottom"],
                                                                 "value_range": [0.0, 255.0]}
    image = np.zeros((40, 40, 3), np.uint8)
    image[:20] = 255
    Image.fromarray(image).save(tmp_path / "top.png")
    code, out, err = run_cli("predict", folder, tmp_path / "top.png", "--top", "2")
    assert code == 0, err
    assert {line.split()[2] for line in out.strip().splitlines()[1:]} == {"top", "bottom"}
