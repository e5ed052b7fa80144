#!/usr/bin/env bash
# Alternates store-x4 session sweeps with the CPUs free to halt (plain) and
# kept busy by one SCHED_IDLE spinner per CPU (warm).
cd /work/main
for i in 1 2 3 4; do
  for v in plain warm; do
    start=$(date +%s)
    spin=()
    if [ $v = warm ]; then
      for c in 0 1; do taskset -c $c chrt -i 0 bash -c 'while :; do :; done' & spin+=($!); done
    fi
    target/release/authscale sweep --modes session --store-cpu 0.16 --out /tmp/sc/idle/$v-$i --quiet
    [ ${#spin[@]} -gt 0 ] && kill "${spin[@]}"
    echo "$v-$i $(( $(date +%s) - start )) s"
  done
done
