#!/usr/bin/env bash
# Herald's checks, defined once: `make test`, `make lint` and .ci/run all run
# this script. From a fresh clone on a fresh machine with Go, as root, it
# installs what the checks need and runs them.
#
# Usage: scripts/test.sh [all|lint|test]
#   all   (default) lint, then test
#   lint  gofmt check and go vet
#   test  go test with the race detector (browser tests in headless Chromium),
#         and herald.js unit tests with node --test
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

stage=${1:-all}
case $stage in
all | lint | test) ;;
*)
	echo "usage: scripts/test.sh [all|lint|test]" >&2
	exit 2
	;;
esac

say() { printf '==> %s\n' "$*" >&2; }

# apt_install installs Debian packages when it can (as root, with apt-get),
# and otherwise says what to install and fails.
apt_install() {
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		say "installing $*"
		if [ -z "${HERALD_APT_UPDATED:-}" ]; then
			apt-get update -qq
			export HERALD_APT_UPDATED=1
		fi
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
		return
	fi
	echo "scripts/test.sh: missing $*; install it (on Debian: sudo apt-get install $*)" >&2
	exit 1
}

# ---------------------------------------------------------------------------
# Test dependencies. Everything the checks need besides Go is installed here,
# so that a fresh clone passes on a fresh machine: add new ones to this
# function (Debian packages with apt_install, tools with `go install` into
# .tools/, front-end packages with npm ci in their own folder).
install_deps() {
	if ! command -v go >/dev/null 2>&1; then
		echo "scripts/test.sh: Go is not installed; install the version go.mod names" >&2
		exit 1
	fi
	# The race detector needs cgo, so a C compiler.
	if [ "$stage" != lint ]; then
		local cc
		cc=$(go env CC)
		cc=${cc%% *}
		if ! command -v "${cc:-gcc}" >/dev/null 2>&1; then
			apt_install gcc libc6-dev
		fi
		# The browser tests drive Debian's Chromium (no browser download).
		if [ -z "${HERALD_SKIP_BROWSER:-}" ] && [ -z "${HERALD_CHROMIUM:-}" ] &&
			! command -v chromium >/dev/null 2>&1; then
			apt_install chromium
		fi
		# herald.js's unit tests run on Node's own test runner.
		if ! command -v node >/dev/null 2>&1; then
			apt_install nodejs
		fi
	fi
}
# ---------------------------------------------------------------------------

# go_files lists the Go files of the repository, leaving out folders that
# hold other people's code or build output.
go_files() {
	find . \( -path ./.git -o -path ./.tools -o -path ./bin -o -name node_modules \) -prune \
		-o -type f -name '*.go' -print0
}

lint() {
	say "gofmt -l"
	local unformatted
	unformatted=$(go_files | xargs -0 -r gofmt -l)
	if [ -n "$unformatted" ]; then
		echo "These files are not gofmt-formatted (run gofmt -w on them):" >&2
		echo "$unformatted" >&2
		exit 1
	fi
	say "go vet ./..."
	go vet ./...
}

unit() {
	say "go test -race -count=1 -timeout 20m ./..."
	CGO_ENABLED=1 go test -race -count=1 -timeout 20m ./...
	say "node --test (clients/js)"
	(cd clients/js && node --test test/)
}

install_deps
case $stage in
all)
	lint
	unit
	;;
lint) lint ;;
test) unit ;;
esac
