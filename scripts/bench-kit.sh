# Sourced by the bench scripts (run from the repository root): sets `bench` to the team bench
# kit, ../shared/bench, whose generators make the large inputs and whose README holds the
# figures to compare with.
bench=
for d in ../shared/bench ../../shared/bench; do
    [ -f "$d/gen_nginx.py" ] && bench=$d && break
done
[ -n "$bench" ] || { echo "no ../shared/bench/gen_nginx.py (the team bench kit)" >&2; exit 2; }
