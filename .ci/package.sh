# Sourced by .ci/run: the Linux packages', the image's and the Windows build's checks.
# - Debian's rpm, so the package test can read the .rpm (rpm -qpl/-qpi);
#   the .deb is installed and removed by tools/package's TestPackageInstall.
# - skopeo and umoci to unpack the released OCI image, which tools/release's
#   TestImageRuns runs with unshare + chroot as the image's user (podman's
#   crun cannot start containers on these VMs: hybrid cgroup mounts); wine and
#   mingw-w64 to run the released Windows binary with the ProcessPrng shim
#   (TestWindowsBinaryUnderWine).
# - The Windows build: cross-compiled and vetted.
need_pkgs=()
command -v rpm >/dev/null 2>&1 || need_pkgs+=(rpm)
command -v skopeo >/dev/null 2>&1 || need_pkgs+=(skopeo)
command -v umoci >/dev/null 2>&1 || need_pkgs+=(umoci)
command -v wine >/dev/null 2>&1 || need_pkgs+=(wine wine64)
command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1 || need_pkgs+=(gcc-mingw-w64-x86-64)
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi
echo "rpm: $(rpm --version); systemd-analyze: $(systemd-analyze --version | head -1)"
echo "$(skopeo --version); $(umoci --version); $(wine --version 2>/dev/null); $(x86_64-w64-mingw32-gcc --version | head -1)"
GOOS=windows GOARCH=amd64 go build -o /dev/null ./cmd/sophos-connect
GOOS=windows GOARCH=amd64 go vet ./...
echo "windows/amd64: go build and go vet passed"
