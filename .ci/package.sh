# Sourced by .ci/run: the Linux packages' and the Windows build's checks.
# - Debian's rpm, so the package test can read the .rpm (rpm -qpl/-qpi);
#   the .deb is installed and removed by tools/package's TestPackageInstall.
# - The Windows build: cross-compiled and vetted (wine 8 cannot start Go
#   >= 1.22 binaries, so nothing runs it here).
if ! command -v rpm >/dev/null 2>&1; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends rpm >/dev/null
fi
echo "rpm: $(rpm --version); systemd-analyze: $(systemd-analyze --version | head -1)"
GOOS=windows GOARCH=amd64 go build -o /dev/null ./cmd/sophos-connect
GOOS=windows GOARCH=amd64 go vet ./...
echo "windows/amd64: go build and go vet passed"
