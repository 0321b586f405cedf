"""`python -m kerasdl bench --data`: how long each data set takes to load, cold and cached (issue 18).

Every registered data set found locally (`python -m kerasdl data list`) is loaded twice, each time
by `kerasdl.data.load(name)` in a fresh process, with a cache folder of its own
(KERASDL_CACHE_DIR, empty at first): cold, everything comes from the source files; warm, the same
call again with what the cold process cached. Each process counts the calls of the functions that
decode a source format (DECODERS) and the source files it opens (an audit hook), so the table shows,
rather than assumes, what a warm load decoded again. Generated sets and sets found nowhere on this
machine are listed, not timed: nothing is downloaded or drawn.
"""

import collections
import functools
import hashlib
import importlib
import os
import sys
import tempfile
import time
from pathlib import Path

from kerasdl import bench
from kerasdl.errors import UserError

# The functions that turn a source format into arrays, by module. A warm load that calls none of
# them decoded nothing; the cold column shows that each set's own decoder is among them.
DECODERS = {
    "kerasdl.data.idx": ("read_idx", "_read_npz"),  # IDX files (gzip or raw); keras' mnist.npz
    "kerasdl.data.cifar": ("read_batch",),  # one pickled CIFAR-10 batch
    "kerasdl.data.image_folder": ("_decode_one",),  # one PNG / JPEG (image_folder, CIFAR-10 JPEG)
    "kerasdl.data.svhn": ("read_mat", "_tfds_load"),  # a format-2 .mat file; TFDS svhn_cropped
    "kerasdl.data.tabular": ("_read_csv", "load_digits"),  # Leiden CSVs; scikit-learn's digits
    "kerasdl.data.images64": ("_read_npz", "_faces_sklearn", "_flowers_from_tfds"),
    "kerasdl.data.text": ("read_csv",),  # tweet_emotions, text_csv
    "kerasdl.data.clocks": ("_read_real", "generate"),  # the course's .npy files; drawing clocks
}


def main(args, prog, argv):
    """Time each chosen data set (fresh processes, one after the other); print (and --publish)."""
    from kerasdl import data
    from kerasdl.data import registry

    chosen = data.names()
    if args.datasets:
        try:
            chosen = [registry._entry(name).name for name in args.datasets.split(",")]
        except UserError as e:
            raise UserError(f"--datasets: {e}") from None
    found = {d["name"]: d for d in data.describe()}
    load_before, started = bench._loadavg(), time.time()
    rows = []
    for name in chosen:
        where = found[name]
        if where["found"] is None:
            generated = where["fallback"] == "generated"
            rows.append(dict(name=name, status="generated on demand" if generated else "not found locally",
                             fallback=None if generated else where["fallback"]))
            continue
        print(f"loading {name} cold, then warm ...", file=sys.stderr, flush=True)
        rows.append(measure(name, where["found"]))
        print(f"  {_progress_line(rows[-1])}", file=sys.stderr, flush=True)
    context = dict(load_before=load_before, load_after=bench._loadavg(), cpu=bench.cpu_model(),
                   minutes=(time.time() - started) / 60)
    bench._print_and_publish(data_table(rows, prog, argv, context), args.publish)
    return 0


def measure(name, source):
    """One row: a cold and a warm process on a cache folder of this set's own, removed after."""
    backend_name = os.environ.get("KERAS_BACKEND", "tensorflow")  # only TFDS readers import it
    with tempfile.TemporaryDirectory(prefix=f"kerasdl-bench-data-{name}-") as cache:
        spec = dict(mode="data", name=name, source=source, cache_dir=cache)
        cold = bench._run_child(spec, backend_name)
        if "error" in cold:
            return dict(name=name, source=source, error=f"cold: {cold['error']}")
        cached = _cache_files(cache)
        warm = bench._run_child(spec, backend_name)
        if "error" in warm:
            return dict(name=name, source=source, error=f"warm: {warm['error']}")
        return dict(name=name, source=source, cold=cold, warm=warm,
                    cache_mb=sum(size for size, _ in cached.values()) / 1e6 if cached else None,
                    cache_rewritten=_cache_files(cache) != cached)


def _cache_files(folder):
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in Path(folder).rglob("*") if p.is_file()}


def _progress_line(row):
    if "error" in row:
        return f"failed: {row['error']}"
    cold, warm = row["cold"]["seconds"], row["warm"]["seconds"]
    return f"cold {cold:.3f} s, warm {warm:.3f} s, decoded when warm: {_calls(row['warm']['decoded'])}"


# --- In the child process ---

def child(spec):
    """One `kerasdl.data.load(name)`, timed, with its decoder calls and source files counted."""
    os.environ["KERASDL_CACHE_DIR"] = spec["cache_dir"]
    os.environ["KERASDL_OFFLINE"] = "1"  # a set found locally must load from there, never download
    from kerasdl import data

    decoded = _count_decoders()
    opened = _watch_opens(spec["source"])
    started = time.perf_counter()
    ds = data.load(spec["name"], download=False, in_memory=False)  # timed as loaded, not copied
    seconds = time.perf_counter() - started
    arrays = [a for a in (ds.x_train, ds.y_train, ds.x_test, ds.y_test, ds.x_val, ds.y_val) if a is not None]
    return dict(seconds=seconds, decoded=dict(decoded), opened=len(opened),
                source_mb=sum(os.path.getsize(p) for p in opened) / 1e6,
                arrays_mb=sum(_nbytes(a) for a in arrays) / 1e6, digest=_digest(arrays, ds.class_names))


def _count_decoders():
    """Replace each of DECODERS by a counting wrapper, wherever the registry holds it too
    (a registered loader, a Locator's reader); returns the Counter of calls by 'module.name'."""
    from kerasdl.data import registry

    calls = collections.Counter()
    for module_name, names in DECODERS.items():
        module = importlib.import_module(module_name)
        for name in names:
            original = getattr(module, name)
            counted = _counting(original, f"{module_name.rsplit('.', 1)[-1]}.{name}", calls)
            setattr(module, name, counted)
            for entry in registry._REGISTRY.values():
                if entry.loader is original:
                    entry.loader = counted
                if getattr(entry.locator, "read", None) is original:
                    entry.locator.read = counted
    return calls


def _counting(fn, label, calls):
    @functools.wraps(fn)  # keeps the signature, which the registry reads for a loader's options
    def counted(*args, **kwargs):
        calls[label] += 1
        return fn(*args, **kwargs)

    return counted


def _watch_opens(source):
    """The set, filled as they are opened, of files at or under `source` that this process opens."""
    source = os.path.abspath(source)
    opened = set()

    def hook(event, args):
        if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
            path = os.path.abspath(os.fsdecode(args[0]))
            if path == source or path.startswith(source + os.sep):
                opened.add(path)

    sys.addaudithook(hook)  # for good: this process ends after its one load
    return opened


def _nbytes(a):
    """Bytes of an array; texts (object arrays of str) count their UTF-8 bytes."""
    return sum(len(str(v).encode()) for v in a.flat) if a.dtype == object else a.nbytes


def _digest(arrays, class_names):
    """A hash of every array's shape, type and values: the warm load must give the cold one's."""
    h = hashlib.blake2b(repr(class_names).encode(), digest_size=16)
    for a in arrays:
        h.update(repr((a.shape, str(a.dtype))).encode())
        h.update("\0".join(map(str, a.flat)).encode() if a.dtype == object else a.tobytes())
    return h.hexdigest()


# --- The table ---

def data_table(rows, prog, argv, context):
    head = (f"## Data loading: cold (empty cache) and warm (cached), a fresh process each\n\n"
            f"Command: `{prog} {' '.join(argv)}` on {context['cpu']}, {time.strftime('%Y-%m-%d %H:%M')}, "
            f"{context['minutes']:.1f} min; {bench.load_text(context['load_before'], context['load_after'])}.\n\n"
            "| data set | source | source MB read (files) | cold s | warm s | cold / warm | arrays MB "
            "| cache MB | decoded cold | decoded warm | source files opened warm | warm = cold |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    lines = [_row(r) for r in rows]
    return head + "\n".join(lines) + "\n\n" + NOTE


def _row(r):
    name = f"`{r['name']}`"
    if "status" in r:
        how = f" ({r['fallback']}: not tried)" if r.get("fallback") else ""
        return f"| {name} | {r['status']}{how} |" + " - |" * 10
    source = Path(r["source"]).name + ("/" if Path(r["source"]).is_dir() else "")
    if "error" in r:
        return f"| {name} | {source} | - | failed: {r['error']} |" + " - |" * 8
    cold, warm = r["cold"], r["warm"]
    cache = "none" if r["cache_mb"] is None else f"{r['cache_mb']:.1f}"
    cache += " (rewritten when warm)" if r["cache_rewritten"] else ""
    same = "yes" if cold["digest"] == warm["digest"] else "**no**"
    return (f"| {name} | {source} | {cold['source_mb']:.1f} ({cold['opened']}) | {_seconds(cold['seconds'])} "
            f"| {_seconds(warm['seconds'])} | {cold['seconds'] / warm['seconds']:.1f} | {warm['arrays_mb']:.1f} "
            f"| {cache} | {_calls(cold['decoded'])} | {_calls(warm['decoded'])} | {warm['opened']} | {same} |")


def _seconds(s):
    return f"{s:.1f}" if s >= 100 else f"{s:.3g}"


def _calls(decoded):
    return ", ".join(f"{label} x{n}" for label, n in sorted(decoded.items())) or "nothing"


NOTE = ("Cold: `kerasdl.data.load(name)` with an empty cache folder of its own (KERASDL_CACHE_DIR), so "
        "every array comes from the source files (the operating system's file cache is not dropped); "
        "warm: the same call in a new process with the cache the cold one left. Seconds are the "
        "load call alone, not the process's start. Source MB read: the source files the cold process "
        "opened; source files opened warm: the same count in the warm process (a cache keyed by its "
        "source's content reads the source to hash it, without decoding it). Decoded: the calls of "
        "the decoding functions of kerasdl/data (kerasdl/bench_data.py DECODERS) in that process; a "
        "set without a cache of its own decodes its source again at every load. Warm = cold: the "
        "warm arrays and class names hash as the cold ones. MB = 10^6 bytes; texts count their UTF-8 "
        "bytes. Sets generated on demand or not found on this machine are not timed (nothing is "
        "downloaded).")
