"""Inference with a trained model: `python -m kerasdl predict MODEL INPUT...`.

MODEL is a run folder (its `model.keras`) or a `.keras` file. The preprocessing
the task trained with is inside the model (Rescaling layers); what the model
cannot hold travels beside it in the run folder's `classes.json`: the class
names and the value range of the pixels the model was trained on (written by
`Run.write_classes`). A run folder from before `classes.json` falls back to the
class names of the data set its config.json names.

Loading is Keras's safe mode: a model file cannot run code, so a `.keras`
holding a `Lambda` layer is refused. kerasdl's own custom layers load because
the task package named in config.json is imported first (it registers them).

Kinds of model read: classifiers (one output of N class scores; the top K
classes with their probability, or their score where the outputs are not
probabilities), the clock reader (the time as HH:MM), and the generative models:
a GAN draws `--samples N` (images, or the points of gan-2d) and a VAE draws
samples from its prior or reconstructs the images it is given. An encoder with a
`gallery.npz` beside it (contrastive's) gives each input's embedding and its
nearest gallery images (kerasdl.tasks.contrastive.inference).

Text models read strings given on the command line or `.txt` files (one text a
line): a model whose input is strings (TextVectorization inside it, saved from
TensorFlow) takes them as they are; a token-id model (emotion-rnn's, which
trains on every backend) has its cleaning, vocabulary and length in the
`text.json` beside it in the run folder (kerasdl.tasks.emotion_rnn.encoder).
"""

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kerasdl.errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
ARRAY_SUFFIXES = (".npy", ".npz")
# The keys an .npz of inputs may hold its images under, first hit wins (when it holds one array,
# that one is read whatever its key).
NPZ_KEYS = ("x", "images", "x_test", "inputs")


@dataclass
class Predictor:
    """A loaded model and what reading its outputs needs."""

    model: object
    path: Path                      # the .keras file
    task: str | None = None         # the task that trained it (config.json), if known
    class_names: list = field(default_factory=list)
    value_range: tuple = (0, 255)   # the pixel values the model was trained on
    kind: str = "classifier"        # classifier, clock, gan, vae, text or embedding
    text: object = None             # a token-id text model: the TextEncoder of its text.json
    gallery: object = None          # an encoder: the Gallery of its gallery.npz (contrastive)

    @property
    def input_shape(self):
        return tuple(self.model.input_shape[1:])


# === Loading ===

def _run_folder(model_path):
    """The run folder a .keras file belongs to (model.keras or models/<name>.keras), or None."""
    for folder in (model_path.parent, model_path.parent.parent):
        if (folder / "config.json").is_file():
            return folder
    return None


def _read_json(path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: unreadable ({e})") from None


def _layer_classes(config):
    """Every (class_name, registered_name) in a saved model's config, at any depth."""
    for entry in _objects(config):
        yield entry["class_name"], entry.get("registered_name")


def _objects(config):
    """Every serialised object (a dict with a class_name) in a saved model's config."""
    if isinstance(config, dict):
        if isinstance(config.get("class_name"), str):
            yield config
        for value in config.values():
            yield from _objects(value)
    elif isinstance(config, list):
        for value in config:
            yield from _objects(value)


def kerasdl_modules(saved):
    """The kerasdl modules that define the custom classes a saved model uses (where
    `register_keras_serializable` runs), e.g. kerasdl.tasks.gan.model."""
    return sorted({entry["module"] for entry in _objects(saved)
                   if str(entry.get("registered_name") or "").startswith("kerasdl>")
                   and str(entry.get("module") or "").startswith("kerasdl.")})


def _saved_config(path):
    """The model config inside a .keras archive; UserError if it is not one."""
    if path.suffix != ".keras":
        raise UserError(f"{path}: not a .keras model file; give a run folder or a .keras file")
    if not zipfile.is_zipfile(path):
        raise UserError(f"{path}: not a .keras model file (not a zip archive); is it truncated?")
    try:
        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read("config.json"))
    except (KeyError, ValueError, OSError, zipfile.BadZipFile) as e:
        raise UserError(f"{path}: not a readable .keras model file ({e})") from None


def _import_tasks(task, saved):
    """Import the modules whose custom layers the model uses, so that they are registered:
    those the saved config names (kerasdl's own only), and the task that trained it."""
    import importlib

    from kerasdl import tasks

    for module in kerasdl_modules(saved):
        try:
            importlib.import_module(module)
        except ImportError:  # saved by another version of kerasdl: the task import below may do
            pass
    if task in tasks.available():
        tasks.load(task)
    elif any(str(registered or "").startswith("kerasdl>") for _, registered in _layer_classes(saved)):
        for name in tasks.available():  # a bare .keras file of kerasdl's: register every task's layers
            tasks.load(name)


def load(model):
    """A Predictor for a run folder or a .keras file; UserError for anything that is neither."""
    path = Path(model)
    if not path.exists():
        raise UserError(f"{path}: no such file or folder; give a run folder or a .keras file")
    if path.is_dir():
        if not (path / "model.keras").is_file():
            raise UserError(f"{path}: not a run folder with a model (no model.keras in it)")
        path = path / "model.keras"
    saved = _saved_config(path)
    if any(name == "Lambda" for name, _ in _layer_classes(saved)):
        raise UserError(f"{path}: refused: it holds a Lambda layer, whose Python code would run on "
                        "loading; kerasdl loads models in Keras's safe mode only")

    foreign = [f"{entry['module']}.{entry['class_name']}" for entry in _objects(saved)
               if entry.get("module") and not str(entry["module"]).split(".")[0] in ("keras", "kerasdl")]
    if foreign:
        raise UserError(f"{path}: refused: it names {foreign[0]}, a class from outside Keras and "
                        "kerasdl; kerasdl loads models built from those only (Keras's safe mode)")

    run_dir = _run_folder(path)
    config = _read_json(run_dir / "config.json") if run_dir else {}
    task = config.get("task")
    _import_tasks(task, saved)

    import keras

    try:
        net = keras.saving.load_model(path, safe_mode=True, compile=False)
    except ValueError as e:
        raise UserError(f"{path}: Keras refused to load it in safe mode: {_first_line(e)}") from None
    except Exception as e:  # noqa: BLE001 - a corrupt archive or an unknown layer: one line
        raise UserError(f"{path}: could not be loaded ({type(e).__name__}: {_first_line(e)})") from None

    generative = _generative_kind(net)
    if generative:
        predictor = Predictor(net, path, task, kind=generative)
        if generative == "vae":
            predictor.value_range = tuple(net.value_range)
        return predictor
    net = _inference_model(net, path)
    predictor = Predictor(net, path, task)
    if _recognise_embedding(predictor, run_dir):
        return predictor
    _recognise_text(predictor, run_dir)
    if task == "clock" or isinstance(net.output, dict):
        predictor.kind = "clock"
        return predictor
    if len(net.outputs) != 1 or len(net.outputs[0].shape) != 2:
        shapes = [tuple(o.shape) for o in net.outputs]
        raise UserError(f"{path}: predict reads classifiers and the clock reader; this model "
                        f"({task or 'unknown task'}) outputs {shapes}")
    _describe_classes(predictor, run_dir, config)
    return predictor


def _recognise_text(predictor, run_dir):
    """Kind "text" for a model that reads strings, or for one with a text.json beside it."""
    from kerasdl.tasks.emotion_rnn.encoder import FILE, TextEncoder

    inputs = predictor.model.inputs
    if len(inputs) == 1 and "string" in str(inputs[0].dtype):
        predictor.kind = "text"
    elif run_dir is not None and (run_dir / FILE).is_file():
        predictor.kind, predictor.text = "text", TextEncoder.load(run_dir / FILE)


def _recognise_embedding(predictor, run_dir):
    """Kind "embedding" for an encoder with a gallery.npz beside it (contrastive's): predict
    gives embeddings and nearest gallery images instead of classes."""
    from kerasdl.tasks.contrastive.inference import GALLERY, Gallery

    if run_dir is None or predictor.path != run_dir / "model.keras" or not (run_dir / GALLERY).is_file():
        return False
    predictor.kind, predictor.gallery = "embedding", Gallery.load(run_dir / GALLERY)
    predictor.value_range = predictor.gallery.value_range
    return True


def _generative_kind(net):
    """'gan' for a model with a generator it samples from, 'vae' for one that reconstructs, else None."""
    if hasattr(net, "generator") and hasattr(net, "z_dim"):
        return "gan"
    if hasattr(net, "reconstruct") and hasattr(net, "decoder"):
        return "vae"
    return None


def _inference_model(net, path):
    """The functional model that predicts: `net` itself, or the `classifier` a training
    wrapper (adversarial's AdversarialTrainer) holds and predicts with."""
    import keras

    try:
        net.output  # a subclassed model that was never called on a symbolic input has none
        return net
    except (AttributeError, ValueError):
        inner = getattr(net, "classifier", None)
        if isinstance(inner, keras.Model):
            return _inference_model(inner, path)
    raise UserError(f"{path}: a {type(net).__name__} with no defined inputs and outputs; predict "
                    "reads functional and sequential models (or a wrapper holding one as `classifier`)")


def _first_line(exc, limit=300):
    """An exception's first line, without the object config Keras appends, at most `limit` characters."""
    text = str(exc).strip().split(" Full object config:")[0]
    line = text.splitlines()[0] if text else type(exc).__name__
    return line if len(line) <= limit else line[:limit - 3] + "..."


def _describe_classes(predictor, run_dir, config):
    """Class names and pixel range: classes.json, else the data set's, else class 0..N-1."""
    n = predictor.model.outputs[0].shape[-1]
    n = 2 if n == 1 else n  # one sigmoid unit: the probability of the second class
    names, value_range = None, None
    if run_dir and (run_dir / "classes.json").is_file():
        saved = _read_json(run_dir / "classes.json")
        names, value_range = saved.get("class_names"), saved.get("value_range")
    elif run_dir:
        names, value_range = _dataset_classes(config)
    if names is None or len(names) != n:
        names = [str(k) for k in range(n)]
    predictor.class_names = [str(c) for c in names]
    if value_range is not None:
        predictor.value_range = tuple(value_range)


def _dataset_classes(config):
    """(class names, value range) of the data set a run's config names, or (None, None)."""
    settings = config.get("config") or {}
    name = settings.get("dataset")
    if not isinstance(name, str):
        return None, None
    from kerasdl import data

    try:
        ds = data.load(name, data_dir=settings.get("data_dir"), download=False, in_memory=False)
    except UserError:
        return None, None
    return ds.class_names, ds.value_range


# === Inputs ===

def read_inputs(inputs, predictor):
    """(names, array) of every input: image files, folders of images, .npy/.npz arrays;
    for a text model, texts (`read_texts`)."""
    if predictor.kind == "text":
        return read_texts(inputs)
    names, arrays = [], []
    for item in inputs:
        path = Path(item)
        if not path.exists():
            raise UserError(f"{path}: no such file or folder (this {predictor.kind} model reads images or "
                            "arrays; text goes to a text model)")
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                raise UserError(f"{path}: no images in this folder (looked for {', '.join(IMAGE_SUFFIXES)})")
            for file in files:
                names.append(str(file))
                arrays.append(read_image(file, predictor)[None])
        elif path.suffix.lower() in ARRAY_SUFFIXES:
            batch = read_array(path, predictor)
            names += [f"{path}[{k}]" for k in range(len(batch))]
            arrays.append(batch)
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            names.append(str(path))
            arrays.append(read_image(path, predictor)[None])
        else:
            raise UserError(f"{path}: expected an image ({', '.join(IMAGE_SUFFIXES)}), a folder of "
                            "images, or a .npy/.npz array")
    if not arrays:
        raise UserError("no inputs given")
    return names, np.concatenate(arrays).astype(np.float32)


def read_texts(inputs):
    """(names, texts) for a text model: every INPUT is a text, except an existing .txt
    file, read as UTF-8 with one text a line (blank lines skipped). An existing image,
    array or folder is refused: a text model reads no images."""
    names, texts = [], []
    for item in inputs:
        path = Path(item)
        if path.suffix.lower() == ".txt" and path.is_file():
            try:
                lines = path.read_text(encoding="utf-8-sig").splitlines()
            except (OSError, UnicodeDecodeError) as e:
                raise UserError(f"{path}: not a readable UTF-8 text file ({_first_line(e)})") from None
            found = [(k, line.strip()) for k, line in enumerate(lines, 1) if line.strip()]
            if not found:
                raise UserError(f"{path}: no text in it; expected one text a line")
            names += [f"{path}:{k}" for k, _ in found]
            texts += [line for _, line in found]
        elif path.exists() and (path.is_dir() or path.suffix.lower() in (*IMAGE_SUFFIXES, *ARRAY_SUFFIXES)):
            raise UserError(f"{path}: this is a text model: give texts in quotes, or .txt files with one "
                            "text a line, not images or arrays")
        else:
            names.append(item if len(item) <= 60 else item[:57] + "...")
            texts.append(item)
    if not texts:
        raise UserError("no inputs given")
    return names, np.array(texts, dtype=object)


def _text_batch(predictor, texts):
    """Texts as the model's input: token ids (text.json), or the strings in the input's shape."""
    if predictor.text is not None:
        return predictor.text.encode(texts)
    texts = np.asarray(texts).astype(str)
    return texts[:, None] if len(predictor.input_shape) == 1 else texts


def _image_shape(predictor):
    shape = predictor.input_shape if predictor.kind != "vae" else tuple(predictor.model.encoder.input_shape[1:])
    if len(shape) == 3 and shape[-1] in (1, 3, 4):
        return shape
    raise UserError(f"{predictor.path}: the model takes inputs of shape {shape}, not images; "
                    "give a .npy/.npz array of that shape")


def read_image(path, predictor):
    """One image file as the model's input: grey or RGB, resized, in the training value range."""
    from PIL import Image, UnidentifiedImageError

    height, width, channels = _image_shape(predictor)
    try:
        with Image.open(path) as image:
            image.load()  # decode now: a truncated file fails here, not later
            image = image.convert("L" if channels == 1 else "RGB" if channels == 3 else "RGBA")
            if image.size != (width, height):
                image = image.resize((width, height), Image.BILINEAR)
            pixels = np.asarray(image, np.float32)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise UserError(f"{path}: not a readable image ({_first_line(e)})") from None
    if channels == 1:
        pixels = pixels[..., None]
    lo, hi = predictor.value_range
    return pixels / 255.0 * (hi - lo) + lo


def read_array(path, predictor):
    """A .npy/.npz of inputs in the data set's own values: (N, *input shape) or one input."""
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded:
                keys = list(loaded.files)
                key = keys[0] if len(keys) == 1 else next((k for k in NPZ_KEYS if k in keys), None)
                if key is None:
                    raise UserError(f"{path}: holds arrays {keys}; expected one array, or one named "
                                    f"{' or '.join(NPZ_KEYS)}")
                array = loaded[key]
        else:
            array = loaded
    except UserError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise UserError(f"{path}: not a readable .npy/.npz array ({_first_line(e)})") from None
    shape = _image_shape(predictor) if predictor.kind == "vae" else predictor.input_shape
    if not np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_:
        raise UserError(f"{path}: expected a numeric array, received dtype {array.dtype}")
    if tuple(array.shape) == shape:
        array = array[None]
    elif len(shape) == 3 and shape[-1] == 1 and tuple(array.shape[-2:]) == shape[:2] and array.ndim in (2, 3):
        array = array.reshape((-1, *shape))  # grey images without their channel axis
    if tuple(array.shape[1:]) != shape or len(array) == 0:
        raise UserError(f"{path}: array of shape {tuple(array.shape)} does not fit the model: "
                        f"expected (N, {', '.join(map(str, shape))}) or one input of shape {shape}")
    return array


# === Predictions ===

def predict(predictor, names, x, top=1, batch_size=256):
    """One dict per input: {"input", "time"} for the clock reader; for a classifier
    {"input", "top": [{"class", "probability" or "score"}, ...]} (the K highest first); for an
    encoder {"input", "embedding", "top": [{"class", "neighbour", "similarity"}, ...]}."""
    if predictor.kind == "clock":
        from kerasdl.tasks.clock import model as clock_models
        from kerasdl.tasks.clock import times

        outputs = clock_models.predict(predictor.model, x)
        if isinstance(outputs, dict):
            formulation, n_classes = "multihead", None
        else:
            n_classes = outputs.shape[-1]
            formulation = {1: "regression_mse", 2: "regression_cyclic"}.get(n_classes, "classification")
        minutes = times.decode(formulation, outputs, n_classes)
        return [{"input": name, "time": times.format_time(m)} for name, m in zip(names, minutes)]
    if predictor.kind == "embedding":
        from kerasdl.tasks.contrastive import inference

        return inference.predict(predictor.model, predictor.gallery, names, x, top, batch_size)
    if predictor.kind == "text":
        x = _text_batch(predictor, x)

    outputs = np.asarray(predictor.model.predict(x, batch_size=batch_size, verbose=0), np.float64)
    if outputs.shape[-1] == 1:  # one sigmoid unit: P(second class)
        outputs = np.concatenate([1 - outputs, outputs], axis=-1)
    column = "probability" if is_probabilities(outputs) else "score"
    k = min(top, outputs.shape[-1])
    order = np.argsort(-outputs, axis=-1, kind="stable")[:, :k]
    return [{"input": name, "top": [{"class": predictor.class_names[c], column: float(row[c])} for c in best]}
            for name, row, best in zip(names, outputs, order)]


# === Generative models ===

def generate(predictor, n, seed=0):
    """`n` samples: a GAN's images in [0, 1] (N, H, W, C), or gan-2d's points (N, 2);
    a VAE's decoded draws from its N(0, I) prior, in [0, 1]. Seeded: the same seed, the same samples."""
    rng = np.random.default_rng(seed)
    net = predictor.model
    if predictor.kind == "gan":
        z = rng.standard_normal((n, net.z_dim)).astype(np.float32)
        out = np.asarray(net.generator.predict(z, batch_size=256, verbose=0), np.float32)
        return np.clip((out + 1.0) / 2.0, 0.0, 1.0) if out.ndim == 4 else out  # tanh range -> [0, 1]
    z = rng.standard_normal((n, net.latent_dim)).astype(np.float32)
    return np.asarray(net.decode(z), np.float32)


def reconstruct(predictor, x):
    """(inputs, reconstructions), both in [0, 1], for a VAE."""
    lo, hi = predictor.value_range
    originals = np.clip((np.asarray(x, np.float32) - lo) / (hi - lo), 0.0, 1.0)
    return originals, np.asarray(predictor.model.reconstruct(x), np.float32)


def above_each_other(originals, rebuilt, columns=8):
    """Rows of `columns` inputs, each row followed by their reconstructions; a short last
    row is padded with blank (white) images so that every image stays above its own."""
    stacked = []
    for k in range(0, len(originals), columns):
        for part in (originals[k:k + columns], rebuilt[k:k + columns]):
            blank = np.ones((columns - len(part), *part.shape[1:]), np.float32)
            stacked.append(np.concatenate([part, blank]))
    return np.concatenate(stacked)


def tile(images, columns=8):
    """Images in [0, 1] (N, H, W, C) -> one uint8 picture of them in rows of `columns`,
    a 2-pixel gap between them."""
    n, height, width, channels = images.shape
    columns = max(1, min(columns, n))
    rows_ = -(-n // columns)
    gap = 2
    sheet = np.ones(((height + gap) * rows_ - gap, (width + gap) * columns - gap, channels), np.float32)
    for k, image in enumerate(images):
        r, c = divmod(k, columns)
        sheet[r * (height + gap):r * (height + gap) + height, c * (width + gap):c * (width + gap) + width] = image
    sheet = np.round(np.clip(sheet, 0, 1) * 255).astype(np.uint8)
    return sheet[..., 0] if channels == 1 else sheet


def write_images(images, output, columns=8):
    """A .png sheet of `images` (in [0, 1]) or the raw .npy array, written atomically."""
    from kerasdl import runs

    output = Path(output)
    buf = io.BytesIO()
    if output.suffix.lower() == ".npy":
        np.save(buf, images)
    else:
        from PIL import Image

        Image.fromarray(tile(images, columns)).save(buf, format="PNG")
    return runs.atomic_write(output, buf.getvalue())


def point_rows(points):
    """gan-2d's samples as rows for the table, CSV or JSON."""
    return [{"sample": k, "x": float(p[0]), "y": float(p[1])} for k, p in enumerate(points)]


def is_probabilities(outputs, tolerance=1e-3):
    """True when every row is a probability distribution (a softmax or sigmoid output)."""
    return bool(np.all(outputs >= -tolerance) and np.all(outputs <= 1 + tolerance)
                and np.allclose(outputs.sum(axis=-1), 1.0, atol=tolerance))


def rows(predictions):
    """Flat rows (one per input and rank) for a table or a CSV."""
    flat = []
    for p in predictions:
        if "top" not in p:  # already flat: a time, a sample point
            flat.append(dict(p))
            continue
        for rank, entry in enumerate(p["top"], 1):
            flat.append({"input": p["input"], "rank": rank, **entry})
    return flat


def table(predictions):
    """A plain-text table for a reader: one line per input and rank, values rounded."""
    flat = rows(predictions)
    if not flat:
        return ""
    keys = [k for k in flat[0] if not (k == "rank" and all(r["rank"] == 1 for r in flat))]

    def shown(value):
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    cells = [[shown(r[k]) for k in keys] for r in flat]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    numeric = [isinstance(flat[0][k], (int, float)) for k in keys]
    lines = ["  ".join(k.rjust(w) if num else k.ljust(w) for k, w, num in zip(keys, widths, numeric)).rstrip()]
    for c in cells:
        lines.append("  ".join(v.rjust(w) if num else v.ljust(w)
                               for v, w, num in zip(c, widths, numeric)).rstrip())
    return "\n".join(lines)


def write(predictions, predictor, output):
    """--output FILE.csv (flat rows) or FILE.json (the model, its task and the predictions), atomically."""
    from kerasdl import runs

    output = Path(output)
    if output.suffix.lower() == ".json":
        return runs.atomic_write(output, runs.to_json({"model": str(predictor.path), "task": predictor.task,
                                                       "predictions": predictions}))
    import csv

    flat = rows(predictions)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(flat[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(flat)
    return runs.atomic_write(output, buf.getvalue())


def check_output(output, suffixes=(".csv", ".json")):
    """--output must name a file with one of `suffixes` in a folder that is not a file."""
    if output is None:
        return None
    path = Path(output)
    if path.suffix.lower() not in suffixes:
        raise UserError(f"--output {output}: expected a file name ending in {' or '.join(suffixes)}")
    if path.is_dir():
        raise UserError(f"--output {output}: is a folder; give a .csv or .json file name")
    return path
