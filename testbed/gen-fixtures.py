#!/usr/bin/env python3
"""Writes the fixture schemas in testbed/fixtures/ from the fact catalogues in testbed/facts/.

The fixtures are our own rendering of the facts (column catalogues and constraint lists), not copies of the
applications' migrations: MySQL DDL for the source (Alkemio v0.128.3, Kratos v1.3.1) and PostgreSQL DDL for the
target (Alkemio v0.129.0 baseline with its seed, Kratos v1.3.1 with its credential types).
Run it after editing testbed/facts/*.tsv:  python3 testbed/gen-fixtures.py
The outputs are committed, so neither CI nor the tests need Python.
"""
import csv
import os
import re
import sys

ROOT = os.path.dirname(os.path.abspath(__file__))
FACTS = os.path.join(ROOT, "facts")
OUT = os.path.join(ROOT, "fixtures")


def read_tsv(name):
    with open(os.path.join(FACTS, name), newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def mq(ident):
    return "`" + ident + "`"


def pq(ident):
    return '"' + ident + '"'


def mysql_cols_of(key_cols):
    """Key column list with optional DESC, quoted for MySQL."""
    out = []
    for c in key_cols.split(","):
        parts = c.strip().split(" ")
        out.append(mq(parts[0]) + (" " + parts[1] if len(parts) > 1 else ""))
    return ", ".join(out)


def pg_cols_of(key_cols):
    out = []
    for c in key_cols.split(","):
        parts = c.strip().split(" ")
        out.append(pq(parts[0]) + (" " + parts[1] if len(parts) > 1 else ""))
    return ", ".join(out)


def tables_in_order(cols, key):
    order = []
    for r in cols:
        if r["table"] not in order:
            order.append(r["table"])
    by_table = {t: [r for r in cols if r["table"] == t] for t in order}
    for t in order:
        by_table[t].sort(key=lambda r: int(r[key]) if r[key] else 10**6)
    return order, by_table


def mysql_name(con):
    m = re.search(r"mysql name (\S+)", con["mysql"])
    if m:
        return m.group(1)
    m = re.search(r"equivalent: mysql index (\S+)", con["mysql"])
    if m:
        return m.group(1)
    return con["name"]


def render_mysql(app, cols, cons, seeds):
    order, by_table = tables_in_order(cols, "ordinal")
    out = [
        f"-- {app}: MySQL/MariaDB source schema, rendered by testbed/gen-fixtures.py from testbed/facts/.",
        "SET FOREIGN_KEY_CHECKS = 0;",
        "",
    ]
    fks = []
    for t in order:
        lines = []
        for r in by_table[t]:
            typ = r["mysql_type"]
            auto = typ.endswith(" auto_increment")
            typ = typ.replace(" auto_increment", "")
            s = f"  {mq(r['column'])} {typ}"
            if "BINARY attribute" in r["notes"]:
                s += " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            s += " NOT NULL" if r["mysql_nullable"] == "NO" else " NULL"
            if r["mysql_default"]:
                s += f" DEFAULT {r['mysql_default']}"
            if "ON UPDATE CURRENT_TIMESTAMP(6)" in r["notes"]:
                s += " ON UPDATE CURRENT_TIMESTAMP(6)"
            if auto:
                s += " AUTO_INCREMENT"
            lines.append(s)
        for c in cons:
            if c["table"] != t or "MISSING IN MYSQL" in c["mysql"]:
                continue
            k = c["kind"]
            if k == "pk":
                lines.append(f"  PRIMARY KEY ({mysql_cols_of(c['columns'])})")
            elif k == "unique":
                lines.append(f"  UNIQUE KEY {mq(mysql_name(c))} ({mysql_cols_of(c['columns'])})")
            elif k == "index":
                lines.append(f"  KEY {mq(mysql_name(c))} ({mysql_cols_of(c['columns'])})")
            elif k == "check":
                expr = c["mysql"].split("expression:", 1)[1].strip()
                lines.append(f"  CONSTRAINT {mq(c['name'])} CHECK ({expr})")
            elif k == "fk":
                fks.append(c)
        out.append(f"CREATE TABLE {mq(t)} (\n" + ",\n".join(lines) +
                   "\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;\n")
    for c in fks:
        if "MISSING IN MYSQL" in c["mysql"]:
            continue
        out.append(
            f"ALTER TABLE {mq(c['table'])} ADD CONSTRAINT {mq(mysql_name(c))} FOREIGN KEY ({mysql_cols_of(c['columns'])}) "
            f"REFERENCES {mq(c['ref_table'])} ({mysql_cols_of(c['ref_columns'])}) "
            f"ON DELETE {c['on_delete']} ON UPDATE {c['on_update'] or 'NO ACTION'};")
    out.append("")
    out.extend(seeds)
    out.append("SET FOREIGN_KEY_CHECKS = 1;")
    return "\n".join(out) + "\n"


def pg_default(r):
    d = r["pg_default"]
    if not d or "(implicit, from serial)" in d:
        return ""
    return d


def render_pg(app, cols, cons, prelude, seeds, unique_as_index):
    order, by_table = tables_in_order(cols, "pg_ordinal")
    out = [f"-- {app}: PostgreSQL target schema, rendered by testbed/gen-fixtures.py from testbed/facts/.", ""]
    out.extend(prelude)
    post = []
    for t in order:
        lines = []
        for r in by_table[t]:
            if not r["pg_type"]:
                continue
            s = f"  {pq(r['column'])} {r['pg_type']}"
            if r["pg_nullable"] == "NO":
                s += " NOT NULL"
            d = pg_default(r)
            if d:
                s += f" DEFAULT {d}"
            lines.append(s)
        for c in cons:
            if c["table"] != t or "mysql-only" in c["mysql"]:
                continue
            k = c["kind"]
            if k == "pk":
                lines.append(f"  CONSTRAINT {pq(c['name'])} PRIMARY KEY ({pg_cols_of(c['columns'])})")
            elif k == "unique" and not unique_as_index(c):
                lines.append(f"  CONSTRAINT {pq(c['name'])} UNIQUE ({pg_cols_of(c['columns'])})")
            elif k == "unique":
                post.append(f"CREATE UNIQUE INDEX {pq(c['name'])} ON {pq(t)} ({pg_cols_of(c['columns'])});")
            elif k == "index":
                post.append(f"CREATE INDEX {pq(c['name'])} ON {pq(t)} ({pg_cols_of(c['columns'])});")
            elif k == "check":
                expr = c["mysql"].split("expression:", 1)[1].strip()
                lines.append(f"  CONSTRAINT {pq(c['name'])} CHECK ({expr})")
            elif k == "fk":
                post.append(
                    f"ALTER TABLE {pq(t)} ADD CONSTRAINT {pq(c['name'])} FOREIGN KEY ({pg_cols_of(c['columns'])}) "
                    f"REFERENCES {pq(c['ref_table'])} ({pg_cols_of(c['ref_columns'])}) "
                    f"ON DELETE {c['on_delete']} ON UPDATE {c['on_update'] or 'NO ACTION'};")
        out.append(f"CREATE TABLE {pq(t)} (\n" + ",\n".join(lines) + "\n);\n")
    out.extend(post)
    out.append("")
    out.extend(seeds)
    return "\n".join(out) + "\n"


def enum_labels(cols):
    for r in cols:
        if r["mysql_type"].startswith("enum("):
            return re.findall(r"'([^']*)'", r["mysql_type"])
    return []


# Deterministic ids for the seeded rows: the real seed uses random ids, so any fixed set is as faithful and keeps
# the fixture reproducible.
def seed_uuid(n):
    return f"00000000-5eed-4000-8000-{n:012d}"


def alkemio_seed(cols):
    """The v0.129.0 seed migration's 41 rows: 15 authorization policies, one per seeded object, and the objects."""
    by_table = {}
    for r in cols:
        by_table.setdefault(r["table"], []).append(r)
    counter = [0]

    def nid():
        counter[0] += 1
        return seed_uuid(counter[0])

    objects = [("platform", 1), ("library", 1), ("license_policy", 1), ("licensing_framework", 1),
               ("templates_set", 1), ("templates_manager", 1), ("template_default", 4), ("storage_aggregator", 1),
               ("storage_bucket", 1), ("role_set", 1), ("license", 1), ("ai_server", 1)]
    ids = {t: [nid() for _ in range(n)] for t, n in objects}
    ids["form"] = [nid()]
    ids["role"] = [nid() for _ in range(10)]
    auth = [nid() for _ in range(15)]
    stmts = ["-- The seed rows the v0.129.0 seed migration writes (41 rows in 15 tables)."]
    for a in auth:
        stmts.append(f"INSERT INTO \"authorization_policy\" (\"id\", \"version\", \"credentialRules\", \"privilegeRules\", "
                     f"\"type\") VALUES ('{a}', 1, '[]', '[]', 'seed');")
    auth_iter = iter(auth)
    role_names = ["global-admin", "global-support", "global-license-manager", "global-spaces-reader",
                  "platform-beta-tester", "platform-vc-campaign", "global-community-reader", "registered",
                  "global-platform-manager", "global-support-manager"]
    tdefault = ["platform-space", "platform-subspace", "platform-space-tutorials", "platform-subspace-knowledge"]
    fixed = {
        ("storage_aggregator", "type"): "'platform'",
        ("storage_bucket", "allowedMimeTypes"): "'image/png,image/jpeg,image/jpg,image/gif,image/svg+xml,image/webp,image/avif,image/bmp,application/pdf'",
        ("storage_bucket", "maxFileSize"): "5242880",
        ("license", "type"): "'role-set'",
        ("form", "questions"): "'[]'",
        ("form", "description"): "''",
        ("role_set", "type"): "'platform'",
        ("role_set", "entryRoleName"): "'registered'",
        ("template_default", "allowedTemplateType"): "'collaboration'",
    }

    def value_for(t, r, i):
        if (t, r["column"]) in fixed:
            return fixed[(t, r["column"])]
        if t == "role" and r["column"] == "name":
            return f"'{role_names[i]}'"
        if t == "template_default" and r["column"] == "type":
            return f"'{tdefault[i]}'"
        pt = r["pg_type"]
        if pt == "uuid":
            return None
        if pt in ("json", "jsonb"):
            return "'{}'" if "settings" in r["column"].lower() else "'[]'"
        if pt == "boolean":
            return "false"
        if pt in ("integer", "bigint") or pt.startswith("numeric"):
            return "1" if r["column"] == "version" else "0"
        if pt.startswith("character varying") or pt == "text":
            return "''"
        return None

    for t in ["library", "license_policy", "licensing_framework", "templates_set", "templates_manager",
              "template_default", "storage_aggregator", "storage_bucket", "license", "form", "role_set", "role",
              "ai_server", "platform"]:
        for i, oid in enumerate(ids[t]):
            names, vals = ["id"], [f"'{oid}'"]
            for r in by_table[t]:
                c = r["column"]
                if c == "id" or not r["pg_type"]:
                    continue
                v = None
                if c == "authorizationId" and t != "role" and t != "form":
                    v = f"'{next(auth_iter)}'"
                elif t == "platform" and c in ("libraryId", "templatesManagerId", "storageAggregatorId",
                                               "licensingFrameworkId", "roleSetId"):
                    ref = {"libraryId": "library", "templatesManagerId": "templates_manager",
                           "storageAggregatorId": "storage_aggregator", "licensingFrameworkId": "licensing_framework",
                           "roleSetId": "role_set"}[c]
                    v = f"'{ids[ref][0]}'"
                elif t == "template_default" and c == "templatesManagerId":
                    v = f"'{ids['templates_manager'][0]}'"
                elif t == "templates_manager" and c == "templatesSetId":
                    v = f"'{ids['templates_set'][0]}'"
                elif t == "storage_bucket" and c == "storageAggregatorId":
                    v = f"'{ids['storage_aggregator'][0]}'"
                elif t == "role" and c == "roleSetId":
                    v = f"'{ids['role_set'][0]}'"
                elif t == "role_set" and c in ("licenseId", "applicationFormId"):
                    v = f"'{ids['license' if c == 'licenseId' else 'form'][0]}'"
                elif t == "licensing_framework" and c == "licensePolicyId":
                    v = f"'{ids['license_policy'][0]}'"
                elif r["pg_nullable"] == "NO" and not pg_default(r):
                    v = value_for(t, r, i)
                    if v is None:
                        sys.exit(f"seed: no value for NOT NULL {t}.{c} ({r['pg_type']})")
                if v is not None:
                    names.append(c)
                    vals.append(v)
            stmts.append(f"INSERT INTO {pq(t)} ({', '.join(pq(n) for n in names)}) VALUES ({', '.join(vals)});")
    # The seed closes the storage cycle with a follow-up update, as the real seed does.
    stmts.append(f"UPDATE \"storage_aggregator\" SET \"directStorageId\" = '{ids['storage_bucket'][0]}' "
                 f"WHERE \"id\" = '{ids['storage_aggregator'][0]}';")
    rows = 15 + sum(len(v) for v in ids.values())
    assert rows == 41, rows
    return stmts


def kratos_seed(quote):
    rows = read_tsv("kratos-seeded-rows.tsv")
    stmts = ["-- The credential types Kratos' migrations insert (same ids on both engines)."]
    for r in rows:
        stmts.append(f"INSERT INTO {quote('identity_credential_types')} ({quote('id')}, {quote('name')}) "
                     f"VALUES ('{r['id']}', '{r['name']}');")
    return stmts


def main():
    os.makedirs(OUT, exist_ok=True)
    acols, acons = read_tsv("alkemio-columns.tsv"), read_tsv("alkemio-constraints.tsv")
    kcols, kcons = read_tsv("kratos-columns.tsv"), read_tsv("kratos-constraints.tsv")
    labels = enum_labels(acols)
    alk_prelude = [
        'CREATE EXTENSION IF NOT EXISTS "uuid-ossp";',
        "CREATE TYPE \"profile_type_enum\" AS ENUM (" + ", ".join(f"'{l}'" for l in labels) + ");",
        "",
    ]
    files = {
        "alkemio.mysql.sql": render_mysql("alkemio", acols, acons, []),
        "alkemio.pg.sql": render_pg("alkemio", acols, acons, alk_prelude, alkemio_seed(acols), lambda c: False),
        "kratos.mysql.sql": render_mysql("kratos", kcols, kcons, kratos_seed(mq)),
        # Kratos creates its `*_idx` uniques with CREATE UNIQUE INDEX; only unique_session_device is a constraint.
        "kratos.pg.sql": render_pg("kratos", kcols, kcons, [], kratos_seed(pq),
                                   lambda c: c["name"] != "unique_session_device"),
    }
    for name, text in files.items():
        with open(os.path.join(OUT, name), "w", encoding="utf-8") as f:
            f.write(text)
        print(f"wrote testbed/fixtures/{name}")


if __name__ == "__main__":
    main()
