"""Minimal stand-in for polars on the GPU machine (the real wheel is too big to carry): ultralytics'
trainer only reads results.csv back through read_csv(...).to_dict(as_series=False)."""
import csv
import io


class _Frame:
    def __init__(self, cols):
        self._cols = cols

    def to_dict(self, as_series=True):
        return {k: list(v) for k, v in self._cols.items()}


def _num(v):
    try:
        return float(v)
    except ValueError:
        return v


def read_csv(src, infer_schema_length=None, **_):
    text = src.decode() if isinstance(src, (bytes, bytearray)) else open(src).read()
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return _Frame({})
    head = [h.strip() for h in rows[0]]
    cols = {h: [] for h in head}
    for r in rows[1:]:
        for h, v in zip(head, r):
            cols[h].append(_num(v.strip()))
    return _Frame(cols)


class DataFrame(_Frame):
    def __init__(self, data=None, schema=None, **_):
        super().__init__(dict(data or {}))

    def write_csv(self):
        keys = list(self._cols)
        out = io.StringIO()
        w = csv.writer(out)
        w.writerow(keys)
        for row in zip(*(self._cols[k] for k in keys)):
            w.writerow(row)
        return out.getvalue()
