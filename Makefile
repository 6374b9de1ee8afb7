# The project's commands, for CI and newcomers; each is an npm script that
# does the work (package.json, scripts/).  `make test` is what CI runs.
.PHONY: test test-slow build demo bench

test:
	npm test

test-slow:
	npm run test:slow

build:
	npm run build

demo:
	npm run demo

bench:
	npm run bench
