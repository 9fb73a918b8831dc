"""DuckDB as a peer loader for scripts/bench-e2e.sh: ATTACH the MySQL source and the PostgreSQL target (DuckDB's
mysql and postgres extensions, loaded offline from their pip packages) and copy every planned table with one
INSERT ... SELECT, columns matched by the mapping's plan (pgconverge plan --report), nothing converted by hand.

usage: duckdb_load.py PLAN.json MYSQL_ATTACH PG_ATTACH   -> one JSON line: seconds, per-table seconds, failures
"""
import json
import os
import sys
import time

import duckdb


def q(name):
    return '"' + name.replace('"', '""') + '"'


plan, my, pg = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
ext = os.path.join(os.path.dirname(os.path.dirname(duckdb.__file__)), "duckdb_ext", "extensions")
con = duckdb.connect()
for s in ("SET autoinstall_known_extensions = false", "SET autoload_known_extensions = false",
          f"SET extension_directory = '{ext}'", "LOAD mysql", "LOAD postgres", "SET TimeZone = 'UTC'"):
    con.execute(s)
con.execute(f"ATTACH '{my}' AS my (TYPE mysql, READ_ONLY)")
con.execute(f"ATTACH '{pg}' AS pg (TYPE postgres)")
started, tables, failed = time.time(), {}, {}
for t in sorted(plan["tables"], key=lambda t: -t.get("bytes_estimate", 0)):
    target_cols = ", ".join(q(c["target"]) for c in t["columns"])
    source_cols = ", ".join(q(c["source"]) for c in t["columns"])
    t0 = time.time()
    try:
        con.execute(f"INSERT INTO pg.public.{q(t['target'])} ({target_cols}) "
                    f"SELECT {source_cols} FROM my.{q(t['source'])}")
    except Exception as e:  # a peer's failure is a result to report, not a reason to stop the benchmark
        failed[t["source"]] = str(e).splitlines()[0][:300]
    tables[t["source"]] = round(time.time() - t0, 3)
print(json.dumps({"seconds": round(time.time() - started, 3), "tables": tables, "failed": failed}))
