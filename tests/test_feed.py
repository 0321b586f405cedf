"""kerasdl.training.feed: batches read from images on disk (memory-mapped), the choice to
stream, and classify trained that way on an image folder."""

import keras
import numpy as np
import pytest
from PIL import Image

from kerasdl import data, memory
from kerasdl.training import feed


def on_disk(tmp_path, array, name="x.npy"):
    np.save(tmp_path / name, array)
    return np.load(tmp_path / name, mmap_mode="r")


def test_row_batches_visit_the_chosen_rows_once_per_epoch_in_a_seeded_order(tmp_path):
    x = on_disk(tmp_path, np.arange(20 * 2, dtype="float32").reshape(20, 2))
    y = np.arange(20) * 10
    rows = np.array([3, 1, 4, 15, 9, 2, 6, 5, 18, 7, 8])
    batches = feed.RowBatches(x, y, rows, batch_size=4, shuffle=True, seed=7)
    assert len(batches) == 3

    def epoch(e):
        batches.epoch = e
        got = [batches[i] for i in range(len(batches))]
        for bx, by in got:
            np.testing.assert_array_equal(bx[:, 0] / 2 * 10, by)  # x and y rows stay paired
            assert list(by) == sorted(by)  # a batch reads its rows in file order
        return np.concatenate([by for _, by in got]) // 10

    first = epoch(0)
    assert sorted(first) == sorted(rows) and [len(b[1]) for b in batches] == [4, 4, 3]
    assert not np.array_equal(epoch(1), first)  # another epoch, another order
    np.testing.assert_array_equal(epoch(0), first)  # the same epoch, the same order (resume)
    np.testing.assert_array_equal(
        feed.RowBatches(x, y, rows, batch_size=4, shuffle=True, seed=7)[0][1],
        feed.RowBatches(x, y, rows, batch_size=4, shuffle=True, seed=7)[0][1])
    plain = feed.RowBatches(x, None, None, batch_size=8)  # predict: x only, all rows in order
    np.testing.assert_array_equal(np.concatenate([plain[i] for i in range(len(plain))]), x)
    with pytest.raises(IndexError):
        plain[3]


def test_a_callback_tells_the_batches_which_epoch_begins(tmp_path):
    batches = feed.RowBatches(np.zeros((4, 1)), np.zeros(4), batch_size=2, shuffle=True)
    [follow] = batches.callbacks()
    follow.on_epoch_begin(5)
    assert batches.epoch == 5
    assert feed.RowBatches(np.zeros((4, 1)), batch_size=2).callbacks() == []  # not shuffled


def test_auto_streams_images_on_disk_larger_than_a_share_of_free_memory(tmp_path, monkeypatch):
    x = on_disk(tmp_path, np.zeros((100, 10), "uint8"))  # 1,000 bytes
    monkeypatch.setattr(feed, "free_memory", lambda: 2_000)
    assert feed.streams(x) and not feed.streams(np.array(x))  # in memory: nothing to gain
    monkeypatch.setattr(feed, "free_memory", lambda: 1_000_000)
    assert not feed.streams(x)
    assert feed.streams(np.zeros(3), "yes") and not feed.streams(x, "no")
    assert feed.free_memory() > 0


def test_arguments_give_the_same_rows_in_memory_or_from_disk(tmp_path):
    x = on_disk(tmp_path, np.arange(10 * 3, dtype="float32").reshape(10, 3))
    y = np.arange(10)
    split = (x, y, np.array([8, 2, 5]))
    arrays = feed.arguments(split, 2, stream=False)
    np.testing.assert_array_equal(arrays["x"], x[[8, 2, 5]])
    assert arrays["batch_size"] == 2 and arrays["y"].tolist() == [8, 2, 5]
    assert feed.validation_data(arrays)[1].tolist() == [8, 2, 5] and feed.callbacks(arrays) == []
    streamed = feed.arguments(split, 2, stream=True, shuffle=True)
    # The batches shuffle their rows from the seed and the epoch; fit must not reorder them
    # again by Python's global random state (a resumed run would see another order).
    assert isinstance(streamed["x"], feed.RowBatches) and streamed == {"x": streamed["x"], "shuffle": False}
    assert feed.validation_data(streamed) is streamed["x"] and len(feed.callbacks(streamed)) == 1
    assert set(feed.arguments(split, 2, stream=True)) == {"x"}  # evaluate and predict take no shuffle
    assert feed.size(split) == 3 and feed.size((x, y, None)) == 10
    assert "y" not in feed.arguments((x, None, None), 4, stream=False)  # predict takes no y
    assert feed.images(x, False) is x and isinstance(feed.images(x, True), feed.RowBatches)
    # A transform (scaling to a model's range) applies to the images, never to the labels.
    double = feed.arguments(split, 2, stream=False, transform=lambda images: 2 * images)
    np.testing.assert_array_equal(double["x"], 2 * x[[8, 2, 5]])
    batches = feed.arguments(split, 2, stream=True, transform=lambda images: 2 * images)["x"]
    np.testing.assert_array_equal(np.concatenate([batches[i][0] for i in range(len(batches))]), 2 * x[[2, 8, 5]])
    assert np.concatenate([batches[i][1] for i in range(len(batches))]).tolist() == [2, 8, 5]  # each batch in file order


def test_fit_and_evaluate_from_disk_match_the_arrays(tmp_path):
    rng = np.random.default_rng(0)
    x = on_disk(tmp_path, rng.normal(size=(48, 3)).astype("float32"))
    y = (np.asarray(x).sum(axis=1) > 0).astype("int64")

    def model():
        keras.utils.set_random_seed(0)
        m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
        m.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
        return m

    m = model()
    batches = feed.RowBatches(x, y, batch_size=8, shuffle=True)
    history = m.fit(batches, epochs=4, verbose=0, callbacks=batches.callbacks(),
                    validation_data=feed.RowBatches(x, y, batch_size=16))
    assert history.history["loss"][-1] < history.history["loss"][0]
    on_disk_scores = m.evaluate(feed.RowBatches(x, y, batch_size=16), verbose=0)
    np.testing.assert_allclose(on_disk_scores, m.evaluate(np.asarray(x), y, verbose=0), rtol=1e-5)
    np.testing.assert_allclose(m.predict(feed.RowBatches(x, batch_size=16), verbose=0),
                               m.predict(np.asarray(x), verbose=0), rtol=1e-5)


def write_folder(root, n=12, size=8):
    rng = np.random.default_rng(0)
    for split, count in (("train", n), ("test", n // 2)):
        for c, name in enumerate(["dark", "light"]):
            (root / split / name).mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 100, (size, size, 3)) + 150 * c
                Image.fromarray(pixels.astype("uint8")).save(root / split / name / f"{i}.png")
    return root


@pytest.mark.usefixtures("isolated_data")
@pytest.mark.parametrize("task, options, score, columns, batch_sizes", [
    ("classify", (), "test_accuracy", "epoch,accuracy,loss,val_accuracy,val_loss", {64, 256}),
    ("vae", ("--set", "validation_fraction=0.25"), "test_neg_elbo",
     "epoch,kl_loss,loss,reconstruction_loss,val_kl_loss,val_loss,val_reconstruction_loss", {64, 256}),
    # The three below are slow tests (CI time): the same feed paths as the two above.
    # semisupervised: the VAE's batches (--quick: 64), its evaluation's and encodings' (256), the
    # PCA baseline's chunks (4096)
    pytest.param("semisupervised", ("--set", "labels=4,10"), "accuracy_most_labels",
                 "epoch,kl_loss,loss,reconstruction_loss,val_kl_loss,val_loss,val_reconstruction_loss",
                 {64, 256, 4096}, marks=pytest.mark.slow),
    # the encoder's batches (--quick: 64), the embeddings' (256) and the fine-tuning's (128)
    pytest.param("contrastive", ("--tsne-points", "0"), "probe_test_accuracy", "epoch,loss,pair_accuracy",
                 {64, 128, 256}, marks=pytest.mark.slow),
    # the GAN's batches (--quick: 16), and its Fréchet scorer's training and test images (64)
    pytest.param("gan", ("--set", "n_train=0"), "frechet", "epoch,d_fake,d_loss,d_real,g_loss", {16, 64},
                 marks=pytest.mark.slow),
])
def test_an_image_folder_is_read_from_disk_and_streamed(tmp_path, quick_run, monkeypatch, task, options, score,
                                                        columns, batch_sizes):
    size = 16  # the GAN's images: a side that is a multiple of 16
    root = write_folder(tmp_path / "folder", size=size)
    ds = data.load("image_folder", data_dir=root)
    assert isinstance(ds.x_train, np.memmap) and ds.x_train.shape == (24, size, size, 3)
    read = set()  # the batch sizes of the batches read from disk
    batch = feed.RowBatches.__getitem__
    monkeypatch.setattr(feed.RowBatches, "__getitem__", lambda self, i: read.add(self.batch_size) or batch(self, i))
    limits = () if task == "gan" else ("--set", "train_limit=none", "--set", "test_limit=none")
    folder, metrics = quick_run(task, "--dataset", "image_folder", "--data-dir", root, "--stream", "yes",
                                *limits, *options, files=("model.keras",))
    assert metrics["streamed"] is True and metrics[score] is not None
    assert batch_sizes <= read  # fit's batches and the evaluation's streamed
    history = (folder / "history.csv").read_text().splitlines()
    assert history[0] == columns and len(history) == 2


def test_free_memory_counts_a_memory_cgroup_limit(tmp_path, monkeypatch):
    (tmp_path / "limit").write_text("1000000\n")
    (tmp_path / "usage").write_text("400000\n")
    (tmp_path / "no-limit").write_text("max\n")
    monkeypatch.setattr(memory, "_cgroup_memory_files", lambda: [
        (tmp_path / "no-limit", tmp_path / "usage"), (tmp_path / "limit", tmp_path / "usage"),
        (tmp_path / "absent", tmp_path / "usage")])
    assert memory.free_memory() == 600_000
