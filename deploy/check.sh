#!/usr/bin/env bash
# Checks the deploy files with the real tools, from Debian:
#   nginx -t                  deploy/nginx/*.conf     (apt-get install nginx-light)
#   systemd-analyze verify    deploy/systemd/*.service (systemd)
#   promtool check rules      deploy/prometheus/*.yml  (apt-get install prometheus)
#   promtool test rules       deploy/prometheus/*.test.yml (the alerts' unit tests)
# Usage: deploy/check.sh [nginx|systemd|prometheus]...   (default: all three)
# `make deploy-check` runs it; .ci/run installs the tools first.
#
# Each check is self-contained and touches nothing outside a temporary
# folder: nginx -t runs on a wrapper configuration that includes the real
# file unchanged, with a throw-away self-signed certificate; the units are
# verified as copies whose ExecStart points at a built staylock binary
# (STAYLOCK_BIN, else `go build` into the temporary folder). Warnings count
# as failures: systemd-analyze exits 0 after "Unknown key … ignoring", and
# nginx after a [warn].
set -euo pipefail

cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0

fail() { printf 'deploy-check: FAILED: %s\n' "$*" >&2; failed=1; }
need() {
	command -v "$1" >/dev/null 2>&1 || [ -x "$1" ] || {
		fail "$1 not found: apt-get install -y $2"
		return 1
	}
}

check_nginx() {
	local nginx=nginx
	command -v nginx >/dev/null 2>&1 || nginx=/usr/sbin/nginx
	need "$nginx" nginx-light || return 0
	need openssl openssl || return 0
	local conf
	for conf in deploy/nginx/*.conf; do
		local dir="$tmp/nginx-$(basename "$conf" .conf)"
		mkdir -p "$dir/logs"
		# Every certificate the file names, as a self-signed stand-in at
		# the same (relative) path: nginx -t loads them.
		if grep -qE '^[[:space:]]*ssl_certificate(_key)?[[:space:]]+/' "$conf"; then
			fail "$conf: a certificate path is absolute; use paths relative to nginx's configuration folder (/etc/nginx) so the check can stand one in"
			continue
		fi
		local crts keys
		crts=$(sed -nE 's/^[[:space:]]*ssl_certificate[[:space:]]+([^;[:space:]]+);.*/\1/p' "$conf")
		keys=$(sed -nE 's/^[[:space:]]*ssl_certificate_key[[:space:]]+([^;[:space:]]+);.*/\1/p' "$conf")
		if [ -n "$crts" ]; then
			openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=booking.example.com \
				-keyout "$dir/check.key" -out "$dir/check.crt" >/dev/null 2>&1 || { fail "openssl could not make a certificate"; continue; }
			for path in $crts; do mkdir -p "$dir/$(dirname "$path")" && cp "$dir/check.crt" "$dir/$path"; done
			for path in $keys; do mkdir -p "$dir/$(dirname "$path")" && cp "$dir/check.key" "$dir/$path"; done
		fi
		# The wrapper is what Debian's nginx.conf does around conf.d/*.conf:
		# the file goes inside http {}. Temp paths and the pid stay in $dir.
		cat >"$dir/nginx.conf" <<-EOF
			pid $dir/nginx.pid;
			error_log stderr;
			events {}
			http {
			    access_log off;
			    client_body_temp_path $dir/body;
			    proxy_temp_path $dir/proxy;
			    fastcgi_temp_path $dir/fastcgi;
			    uwsgi_temp_path $dir/uwsgi;
			    scgi_temp_path $dir/scgi;
			    include $PWD/$conf;
			}
		EOF
		local out
		if ! out=$("$nginx" -t -q -p "$dir" -e stderr -c "$dir/nginx.conf" 2>&1) || [ -n "$out" ]; then
			printf '%s\n' "$out" >&2
			fail "nginx -t: $conf"
		else
			echo "nginx -t: $conf: ok"
		fi
	done
}

check_systemd() {
	need systemd-analyze systemd || return 0
	local bin=${STAYLOCK_BIN:-}
	if [ -z "$bin" ]; then
		bin="$tmp/staylock"
		go build -o "$bin" ./cmd/staylock || { fail "go build ./cmd/staylock"; return 0; }
	fi
	mkdir -p "$tmp/units"
	local unit
	for unit in deploy/systemd/*.service; do
		local name
		name=$(basename "$unit")
		# A template is verified as one instance of it.
		case "$name" in *@.service) name="${name%@.service}@check.service" ;; esac
		sed -E "s#^(ExecStart=[-@:+!]*)/usr/local/bin/staylock( |\$)#\\1$bin\\2#" "$unit" >"$tmp/units/$name"
		grep -q "^ExecStart=.*$bin" "$tmp/units/$name" || { fail "$unit: ExecStart does not run /usr/local/bin/staylock"; continue; }
		local out
		if ! out=$(cd "$tmp/units" && systemd-analyze verify "./$name" 2>&1) || [ -n "$out" ]; then
			printf '%s\n' "$out" >&2
			fail "systemd-analyze verify: $unit"
		else
			echo "systemd-analyze verify: $unit: ok"
		fi
	done
}

check_prometheus() {
	need promtool prometheus || return 0
	local rules out
	for rules in deploy/prometheus/*.yml; do
		case "$rules" in *.test.yml) continue ;; esac
		if ! out=$(promtool check rules "$rules" 2>&1); then
			printf '%s\n' "$out" >&2
			fail "promtool check rules: $rules"
		else
			echo "promtool check rules: $rules: ok ($(grep -o '[0-9]* rules found' <<<"$out"))"
		fi
	done
	# The alerts' unit tests: series in, which alerts fire (and with what text).
	local tests
	for tests in deploy/prometheus/*.test.yml; do
		[ -e "$tests" ] || continue
		if ! out=$(cd "$(dirname "$tests")" && promtool test rules "$(basename "$tests")" 2>&1); then
			printf '%s\n' "$out" >&2
			fail "promtool test rules: $tests"
		else
			echo "promtool test rules: $tests: ok"
		fi
	done
}

checks=("$@")
[ ${#checks[@]} -gt 0 ] || checks=(nginx systemd prometheus)
for c in "${checks[@]}"; do
	case "$c" in
	nginx) check_nginx ;;
	systemd) check_systemd ;;
	prometheus) check_prometheus ;;
	*) fail "unknown check $c (nginx, systemd or prometheus)" ;;
	esac
done
if [ $failed -ne 0 ]; then exit 1; fi
echo "deploy-check: ok"
