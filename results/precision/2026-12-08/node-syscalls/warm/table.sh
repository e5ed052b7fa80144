cd /tmp/sc/idle
for d in plain-* warm-*; do
  f=$(ls $d/*/report.md 2>/dev/null) || continue
  E=$(grep -E "^\| session \| [0-9]+ \| [0-9]+ \[" $f | awk -F'|' '{printf "%s ", $5}')
  C=$(grep -E "^\| session \| [0-9]+ \| [0-9.]+ \(" $f | awk -F'|' '{printf "%s/%s ", $4, $6}')
  echo "$d E: $E"
  echo "      nodes/proxy: $C"
done
