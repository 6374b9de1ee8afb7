# The project's commands, for CI and newcomers; each is an npm script that
# does the work (package.json, scripts/).  `make test` is what CI runs.
.PHONY: test test-quick test-slow build demo bench install uninstall deb

# make install / make uninstall: a built checkout into PREFIX (DESTDIR for
# staging); make deb: Debian packages into build/deb/.  docs/install.md.
PREFIX ?= /usr/local
DESTDIR ?=
INSTALL_VARS = PREFIX='$(PREFIX)' DESTDIR='$(DESTDIR)' $(if $(PLUGINDIR),PLUGINDIR='$(PLUGINDIR)') $(if $(NODE),NODE='$(NODE)') $(if $(WITH_CRIU),WITH_CRIU='$(WITH_CRIU)')

test:
	npm test

test-quick:
	npm run test:quick

test-slow:
	npm run test:slow

build:
	npm run build

demo:
	npm run demo

bench:
	npm run bench

install:
	$(INSTALL_VARS) bash scripts/install.sh install

uninstall:
	$(INSTALL_VARS) bash scripts/install.sh uninstall

deb:
	bash scripts/deb.sh
