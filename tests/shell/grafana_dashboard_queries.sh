#!/usr/bin/env bash
# Every panel query of the Grafana dashboard runs against a live database
# (the demo, with a history snapshot taken), after substituting Grafana's
# macros the way its PostgreSQL data source expands them. A macro the test
# does not know fails the test, so new panels stay covered.
. "$(dirname "$0")/lib.bash"
DB=readiness_grafana
DASHBOARD="$REPO_ROOT/monitoring/grafana/pg_readiness.json"
trap 'drop_db $DB' EXIT
fresh_demo_db "$DB"
q -d "$DB" -c "SELECT readiness_snapshot()" >/dev/null

python3 - "$DASHBOARD" >/tmp/readiness_panels.tsv <<'PY'
import json, re, sys
d = json.load(open(sys.argv[1]))
kinds = sorted({p["type"] for p in d["panels"]})
for need in ("gauge", "timeseries", "bargauge", "table"):
    assert need in kinds, f"dashboard lacks a {need} panel"
assert d["__inputs"][0]["pluginId"] == "grafana-postgresql-datasource"
FROM, TO = "'2000-01-01T00:00:00Z'", "'2100-01-01T00:00:00Z'"
macros = [
    (r"\$__timeFilter\(([^)]+)\)", lambda m: f"{m.group(1)} BETWEEN {FROM} AND {TO}"),
    (r"\$__timeFrom\(\)", lambda m: f"{FROM}::timestamptz"),
    (r"\$__timeTo\(\)", lambda m: f"{TO}::timestamptz"),
    (r"\$__unixEpochFilter\(([^)]+)\)", lambda m: f"{m.group(1)} BETWEEN 946684800 AND 4102444800"),
]
for p in d["panels"]:
    for t in p["targets"]:
        sql = t["rawSql"]
        for pat, rep in macros:
            sql = re.sub(pat, rep, sql)
        assert "$__" not in sql and "${" not in sql, f"unknown macro in panel {p['title']!r}: {sql}"
        print(p["title"] + "\t" + sql.replace("\n", " "))
PY

n=0
while IFS=$'\t' read -r title sql; do
    rows="$(q -d "$DB" -c "SELECT count(*) FROM ($sql) panel")" || fail "panel '$title' failed to run: $sql"
    [ "$rows" -gt 0 ] || fail "panel '$title' returned no rows"
    echo "panel '$title': $rows rows"
    n=$((n + 1))
done </tmp/readiness_panels.tsv
rm -f /tmp/readiness_panels.tsv
[ "$n" -ge 6 ] || fail "expected at least 6 panel queries, ran $n"
echo "grafana dashboard: $n panel queries ran"
