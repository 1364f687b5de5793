# stackplay: see README.md. Run as root on Debian 12.
SHELL := /bin/bash
INVENTORY ?= hosts/lab.ini
N ?= 1,10,50
export DEBIAN_FRONTEND := noninteractive

# Debian packages the tests and the lab need on this machine:
# openssh-server (a real sshd for integration tests and inside lab hosts),
# debootstrap + apt-cacher-ng (lab base image and package cache), iproute2
# (network namespaces), nftables (the lab's firewall table), sudo (become tests),
# qemu-system-x86 (boots the lab's guest image in its own test), chromium (the
# verify playbook's Horizon screenshot), iputils-ping (verify pings floating IPs).
APT_PACKAGES := openssh-server openssh-client debootstrap apt-cacher-ng iproute2 procps nftables sudo qemu-system-x86 chromium iputils-ping
APT_STAMP := .lab/apt-packages.stamp

.PHONY: help deps test test-openstack test-day2 typecheck format format-check unit lab lab-up lab-down lab-status lab-base site verify conformance plan clean bench bench-site

help:
	@echo "make test        install what is needed (npm ci, apt packages), type-check, check formatting, run every test, then test-openstack"
	@echo "make unit        every suite but the OpenStack deployment (~2 min)"
	@echo "make test-openstack   deploy Zed into a lab of its own, re-run, change one option (~20 min warm)"
	@echo "make test-day2   day-2 operations on a Zed lab of its own: stop/start, add and remove compute2, rotate, back up and restore (~30 min)"
	@echo "make lab         bring up the local lab and run the site playbook on it"
	@echo "make conformance run the interop guideline's 228 required Tempest tests on the deployed lab (after make lab)"
	@echo "make bench       stackplay vs Ansible vs the floor on N=1,10,50 benchmark hosts (N=200: the floor is the peer)"
	@echo "make bench-site  the converged site re-run on the lab that is up, 5 runs"
	@echo "make plan        offline plan of hosts/juno.ini into out/juno"
	@echo "make lab-up | lab-down | lab-status   manage the local lab (INVENTORY=$(INVENTORY))"

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

$(APT_STAMP): Makefile
	@mkdir -p $(dir $@)
	@if ! dpkg-query -W -f='$${Status}\n' $(APT_PACKAGES) 2>/dev/null | grep -vq ' installed$$' && \
	    [ "$$(dpkg-query -W -f='$${Status}\n' $(APT_PACKAGES) 2>/dev/null | wc -l)" = "$(words $(APT_PACKAGES))" ]; then \
	  echo "apt packages present: $(APT_PACKAGES)"; \
	else \
	  echo "installing: $(APT_PACKAGES)"; \
	  echo "apt-cacher-ng apt-cacher-ng/tunnelenable boolean false" | debconf-set-selections; \
	  apt-get update -q && apt-get install -y -q --no-install-recommends $(APT_PACKAGES); \
	fi
	@touch $@

deps: node_modules/.package-lock.json $(APT_STAMP)

typecheck: deps
	npx tsc --noEmit -p .

# prettier with the checked-in .prettierrc.json; `make format` rewrites, make test checks.
format: deps
	npx prettier --write --log-level warn "**/*.ts"

format-check: deps
	npx prettier --check --log-level warn "**/*.ts"

unit: deps
	npx mocha

# Every suite, then the real OpenStack deployment (issue 5; issue 7's promise 1 on real hosts).
test: deps typecheck format-check
	npx mocha
	$(MAKE) test-openstack

# Issue 5 end to end on a lab of its own: deploy Zed, re-run (0 changed, no
# daemon restarted, keystone counts unchanged), change glance_workers (only
# glance-api restarts). Needs no lab up; takes it down after.
test-openstack: deps
	STACKPLAY_LAB_OPENSTACK=1 npx mocha --no-config --node-option import=tsx --extension ts --timeout 0 test/lab-openstack.test.ts

# Issue 17 end to end on a lab of its own (test/lab-day2.test.ts): deploy Zed, then
# status/stop/start, add compute2 and boot a server on it, rotate the admin and nova
# passwords, back up / drop glance's database / restore, remove compute2, verify.
test-day2: deps
	STACKPLAY_LAB_DAY2=1 npx mocha --no-config --node-option import=tsx --extension ts --timeout 0 test/lab-day2.test.ts

lab-up: deps
	npx tsx lab/cli.ts up -i $(INVENTORY)

lab-down: deps
	npx tsx lab/cli.ts down

lab-status: deps
	npx tsx lab/cli.ts status

lab-base: deps
	npx tsx lab/cli.ts base

site: deps
	npx tsx playbooks/site.ts -i $(INVENTORY)

lab: lab-up site verify

# The verify playbook pings and logs into the servers from this machine and screenshots
# Horizon with a headless Chromium (both installed by deps).
verify: deps
	@mkdir -p out/verify
	npx tsx playbooks/verify.ts -i $(INVENTORY) -v --json out/verify/report.json

# OpenStack's interoperability guideline (Powered Compute 2020.06, 228 required Tempest
# tests) against the deployed lab: run after `make lab`. Results in conformance/results/.
conformance: deps
	@mkdir -p out/conformance
	npx tsx playbooks/conformance.ts -i $(INVENTORY) -v --json out/conformance/report.json

plan: deps
	npx tsx playbooks/site.ts -i hosts/juno.ini --plan out/juno

clean:
	rm -rf out

# stackplay vs ansible-playbook vs the floor on N benchmark hosts (bench/run.ts,
# results in bench/results/). Needs: ansible-core and ansible (ini_file lives in
# community.general), librsvg2-bin (chart.png), time (CPU and max RSS).
bench: deps
	@pkgs="ansible-core ansible librsvg2-bin time"; \
	if [ "$$(dpkg-query -W -f='$${Status}\n' $$pkgs 2>/dev/null | grep -c ' installed$$')" != 4 ]; then \
	  apt-get update -q && apt-get install -y -q --no-install-recommends $$pkgs; fi
	node --import tsx bench/run.ts --n $(N) --runs $(or $(RUNS),5) --ansible-max-n $(or $(ANSIBLE_MAX_N),50)

# The converged site re-run on the lab that is up (after make lab): RUNS runs in a
# row, each 0 changed; median and role times into bench/results/ (bench/site-rerun.ts).
bench-site: deps
	node --import tsx bench/site-rerun.ts -i $(INVENTORY) --runs $(or $(RUNS),5)
