"""Independent Parquet reader for the tests: prints a file's schema and rows as JSON, read with pyarrow.

Usage: read_parquet.py FILE...  -> {"types": {column: arrow type}, "rows": [[value, ...], ...]} (rows of all files)
Values: null, booleans and integers as JSON; decimals, dates, times and timestamps as Python prints them
(timestamps with their zone); float32 as the shortest text that reads back to the same float32; bytes as "hex:..".
"""
import datetime
import decimal
import json
import struct
import sys

import pyarrow as pa
import pyarrow.parquet as pq


def f32(v):
    for digits in range(1, 10):
        s = "%.*g" % (digits, v)
        if struct.unpack("f", struct.pack("f", float(s)))[0] == v:
            return s
    return repr(v)


def cell(v, t):
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return f32(v) if pa.types.is_float32(t) else repr(v)
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, bytes):
        return "hex:" + v.hex()
    if isinstance(v, datetime.datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, (datetime.date, datetime.time)):
        return v.isoformat()
    raise TypeError(f"unexpected {type(v)} for {t}")


types, rows = {}, []
for path in sys.argv[1:]:
    table = pq.read_table(path)
    for f in table.schema:
        types[f.name] = str(f.type)
    cols = [(c.to_pylist(), f.type) for c, f in zip(table.columns, table.schema)]
    for i in range(table.num_rows):
        rows.append([cell(vals[i], t) for vals, t in cols])
print(json.dumps({"types": types, "rows": rows}))
