# Sourced by .ci/run: what the status page's tests need.
# - Debian's chromium, for the headless browser test of the status page;
# - promtool from Debian's prometheus package, unpacked into a cache folder
#   (installing the package would start a Prometheus server), for the
#   alert-rule and dashboard checks. Exports PROMTOOL.
status_cache="${HOME}/.cache/sophos-connect-ci/prometheus"
if ! command -v chromium >/dev/null 2>&1; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
if [ ! -x "$status_cache/usr/bin/promtool" ]; then
  mkdir -p "$status_cache"
  (cd "$status_cache" && apt-get download -qq prometheus 2>/dev/null || { apt-get update -qq && apt-get download -qq prometheus; })
  dpkg -x "$status_cache"/prometheus_*.deb "$status_cache"
  rm -f "$status_cache"/prometheus_*.deb
fi
export PROMTOOL="$status_cache/usr/bin/promtool"
echo "chromium: $(chromium --version 2>/dev/null | head -1); promtool: $("$PROMTOOL" --version 2>&1 | head -1)"
