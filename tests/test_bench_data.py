"""`python -m kerasdl bench --data`: the table, a tiny real measurement end to end, bad options."""

import importlib

import pytest

from bad_inputs import one_line_error
from kerasdl import bench_data
from test_data_cifar import write_jpeg_tree, write_tar_xz
from test_data_idx import write_idx_set


def _timed(seconds, decoded, opened, digest="d1", source_mb=2.5, arrays_mb=184.3):
    return dict(seconds=seconds, decoded=decoded, opened=opened, source_mb=source_mb, arrays_mb=arrays_mb,
                digest=digest)


def test_table_from_hand_made_rows(tmp_path):
    archive = tmp_path / "cifar10-jpg.tar.xz"
    archive.write_bytes(b"")
    rows = [
        dict(name="cifar10", source=str(archive), cache_mb=184.32, cache_rewritten=False,
             cold=_timed(120.0, {"image_folder._decode_one": 60000}, 1),
             warm=_timed(0.5, {}, 1)),
        dict(name="leiden_digits", source=str(tmp_path), cache_mb=None, cache_rewritten=True,
             cold=_timed(0.04, {"tabular._read_csv": 4}, 4, source_mb=2.74, arrays_mb=2.8),
             warm=_timed(0.032, {"tabular._read_csv": 4}, 4, digest="d2", arrays_mb=2.8)),
        dict(name="mnist", source=str(archive), error="warm: DataCorrupt: truncated"),
        dict(name="svhn", status="not found locally", fallback="download via TFDS svhn_cropped"),
        dict(name="clocks", status="generated on demand", fallback=None),
    ]
    context = dict(load_before=(1.0, 2.0, 3.0), load_after=(4.0, 5.0, 6.0), cpu="a CPU, 2 cores", minutes=2.04)
    table = bench_data.data_table(rows, "kerasdl bench", ["--data"], context)
    lines = table.splitlines()
    assert lines[0] == "## Data loading: cold (empty cache) and warm (cached), a fresh process each"
    assert lines[2].startswith("Command: `kerasdl bench --data` on a CPU, 2 cores, ")
    assert lines[2].endswith(", 2.0 min; load average (1, 5, 15 min) 1.00, 2.00, 3.00 / 4.00, 5.00, 6.00 "
                             "before / after.")
    assert ("| `cifar10` | cifar10-jpg.tar.xz | 2.5 (1) | 120.0 | 0.5 | 240.0 | 184.3 | 184.3 "
            "| image_folder._decode_one x60000 | nothing | 1 | yes |") in lines
    name = tmp_path.name
    assert (f"| `leiden_digits` | {name}/ | 2.7 (4) | 0.04 | 0.032 | 1.2 | 2.8 | none (rewritten when warm) "
            "| tabular._read_csv x4 | tabular._read_csv x4 | 4 | **no** |") in lines
    assert "| `mnist` | cifar10-jpg.tar.xz | - | failed: warm: DataCorrupt: truncated |" + " - |" * 8 in lines
    assert ("| `svhn` | not found locally (download via TFDS svhn_cropped: not tried) |" + " - |" * 10) in lines
    assert "| `clocks` | generated on demand |" + " - |" * 10 in lines
    header = next(line for line in lines if line.startswith("| data set |"))
    assert all(line.count("|") == header.count("|") for line in lines if line.startswith("| `"))


def test_every_decoder_it_counts_exists():
    for module_name, names in bench_data.DECODERS.items():
        module = importlib.import_module(module_name)
        for name in names:
            assert callable(getattr(module, name, None)), f"{module_name}.{name}"


def _cells(out, name):
    row = next(line for line in out.splitlines() if line.startswith(f"| `{name}` |"))
    return [c.strip() for c in row.strip("|").split("|")]


@pytest.mark.one_backend
def test_warm_load_decodes_nothing_where_there_is_a_cache(isolated_data, tmp_path, monkeypatch, run_cli):
    """Real files, real processes: a tiny CIFAR-10 JPEG archive (decoded once, then cached) and
    tiny MNIST IDX files (no cache: decoded again at every load)."""
    sets = tmp_path / "sets"
    tree = write_jpeg_tree(tmp_path / "tree", n_train=1, n_test=1)
    write_tar_xz(tree, sets / "cifar10-jpg" / "cifar10-jpg.tar.xz")
    write_idx_set(sets / "mnist")
    monkeypatch.setenv("KERASDL_DATA_DIR", str(sets))
    code, out, err = run_cli("bench", "--data", "--datasets", "cifar10,mnist,svhn,clocks")
    assert code == 0, err
    (source, read, cold, warm, ratio, arrays, cache, decoded_cold, decoded_warm, opened_warm,
     same) = _cells(out, "cifar10")[1:]
    assert source == "cifar10-jpg.tar.xz" and read.endswith("(1)")
    assert decoded_cold == "image_folder._decode_one x20" and decoded_warm == "nothing", out
    assert float(cold) > 0 and float(warm) > 0 and same == "yes"
    assert float(arrays) == pytest.approx(20 * 32 * 32 * 3 / 1e6 + 20 * 8 / 1e6, abs=0.05)
    assert float(cache) > 0 and opened_warm == "1"  # the archive is hashed for its cache key
    mnist = _cells(out, "mnist")
    assert mnist[1] == "mnist/" and mnist[7] == "none"
    assert mnist[8] == mnist[9] == "idx.read_idx x4" and mnist[10] == "4"
    assert _cells(out, "svhn")[1].startswith("not found locally")
    assert _cells(out, "clocks")[1] == "generated on demand"
    assert not list((isolated_data / "data").glob("cache/**/*.npz"))  # each set had a cache of its own


@pytest.mark.one_backend
@pytest.mark.parametrize("options, fragments", [
    (("--data", "--datasets", "mnist,nosuchset"), ("--datasets: unknown data set 'nosuchset'", "cifar10")),
    (("--datasets", "mnist"), ("--datasets applies to --data only",)),
])
def test_bad_options_are_one_line(run_cli, options, fragments):
    one_line_error(run_cli("bench", *options), *fragments)
