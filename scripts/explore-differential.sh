#!/bin/sh
# Explore: run the differential test (resolver vs a real nginx) on fresh random seeds, RUNS times
# (default 10), and print each seed with its result. A seed that disagrees is replayed with
#   CI=true MD_DIFF_SEED=N cargo test --test it differential::resolver_agrees_with_real_nginx
# and becomes a named regression test in tests/it/differential.rs. Needs root and nginx.
#   scripts/explore-differential.sh [RUNS]
set -eu
cd "$(dirname "$0")/.."
runs=${1:-10}
cargo test --quiet --test it --no-run
i=0
while [ "$i" -lt "$runs" ]; do
    i=$((i + 1))
    seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
    if CI=true MD_DIFF_SEED=$seed MD_DIFF_BRIEF=1 cargo test --quiet --test it \
        differential::resolver_agrees_with_real_nginx >/tmp/explore-differential-$seed.log 2>&1; then
        echo "seed $seed: agrees"
    else
        echo "seed $seed: DISAGREES (/tmp/explore-differential-$seed.log)"
        grep -E "^scenario|disagree" /tmp/explore-differential-$seed.log | head -5
    fi
done
