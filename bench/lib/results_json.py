"""The machine-readable twin of a bench summary: summary.json next to summary.md.

One object per target and figure, so that two runs compare without parsing prose:

    {"script": "throughput", "generated": "2026-11-24T02:17:49Z",
     "env": {"date": ..., "edge522": ..., "command": ...},        # the "key: value" lines of env.txt
     "results": [{"target": "edge522", "figure": "rps_median", "value": 56152.0, "unit": "req/s",
                  "conns": 50}, ...]}

Dimensions other than target (conns, n, size_mb, kind, ...) are extra keys of the object. value is a
number, or null when the run could not measure it; never a formatted string.
"""
import datetime
import json
import math
import os


class Results:
    def __init__(self, script):
        self.script = script
        self.rows = []

    def add(self, target, figure, value, unit, **dims):
        if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
            value = None
        row = {"target": target, "figure": figure, "value": value, "unit": unit}
        row.update(dims)
        self.rows.append(row)

    def write(self, path, env_txt=None):
        """Writes the JSON file; env_txt: a file of 'key: value' lines (the script's env.txt), or a dict."""
        if not path:
            return
        env = dict(env_txt) if isinstance(env_txt, dict) else {}
        if isinstance(env_txt, str) and os.path.exists(env_txt):
            for line in open(env_txt):
                if ": " in line:
                    k, v = line.rstrip("\n").split(": ", 1)
                    env.setdefault(k.strip(), v.strip())
        doc = {"script": self.script,
               "generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
               "env": env, "results": self.rows}
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        os.replace(tmp, path)


def json_arg(argv):
    """Removes '--json PATH' from argv (in place); returns PATH or None."""
    if "--json" in argv:
        i = argv.index("--json")
        path = argv[i + 1]
        del argv[i:i + 2]
        return path
    return None


def env_arg(argv):
    """Removes '--env PATH' from argv (in place); returns PATH or None."""
    if "--env" in argv:
        i = argv.index("--env")
        path = argv[i + 1]
        del argv[i:i + 2]
        return path
    return None
