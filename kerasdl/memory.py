"""How much memory a run may still take: what decides whether images are read from disk
(`kerasdl.training.feed`) and whether a task that holds them in memory can take them
(`kerasdl.data.load`)."""

from pathlib import Path


def free_memory():
    """Bytes of memory this process may still take: the machine's available memory
    (/proc/meminfo), or less where a memory cgroup (a container, a batch job) limits it.
    None where neither can be read."""
    free = []
    try:
        with open("/proc/meminfo") as f:
            free += [int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:")]
    except (OSError, ValueError, IndexError):
        pass
    for limit, usage in _cgroup_memory_files():
        try:
            cap = Path(limit).read_text().strip()
            if cap.isdigit():  # cgroup v2 writes "max" when there is no limit
                free.append(int(cap) - int(Path(usage).read_text()))
        except (OSError, ValueError):
            pass
    return min(free) if free else None


def _cgroup_memory_files():
    """(limit file, usage file) of this process's memory cgroup, v2 and v1."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # v2: one unified hierarchy
            base = Path("/sys/fs/cgroup") / path.lstrip("/")
            found.append((base / "memory.max", base / "memory.current"))
        elif "memory" in controllers.split(","):
            base = Path("/sys/fs/cgroup/memory") / path.lstrip("/")
            found.append((base / "memory.limit_in_bytes", base / "memory.usage_in_bytes"))
    return found


def size_text(n):
    """A number of bytes as people read it: 900 B, 1.5 KB, 2.3 GB (units of 1024)."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
