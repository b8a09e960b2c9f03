# syntax=docker/dockerfile:1
# amp-profile-export: a small image for the nightly batch job (cron, Kubernetes CronJob/Job).
#
#   docker build -t amp-profile-export .
#   docker run --rm amp-profile-export demo
#   docker run --rm -e AMPLITUDE_SECRET_KEY --user "$(id -u):$(id -g)" -v "$PWD:/work" -w /work \
#     amp-profile-export export --config jobs/backfill.yaml
#
# test/e2e/dockerfile.test.ts runs these steps outside Docker (no engine on CI): it reads
# the stages, WORKDIRs, COPYs, RUNs and the ENTRYPOINT below, so keep to those instructions.

# Build: all dependencies (esbuild), then dist/: src/ bundled into dist/cli.js and the chunks
# it loads on demand (`npm run bundle`; CI type-checks, the image build need not). Then, in the
# same stage, the production dependencies alone in prod/: better-sqlite3 (--state) compiles
# from source with node-gyp, which needs python3, make and g++; they stay in this stage, not
# in the image. The native and lazily loaded ones (better-sqlite3, the AWS SDK, ioredis,
# prom-client, yaml) stay outside the bundle, in node_modules.
FROM node:22-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the bundler needs no native module; better-sqlite3 compiles once, in prod/ below.
# --prefer-offline: a package the cache mount holds is taken from it without asking the registry
# whether it changed (each tarball is checked against the lockfile's integrity hash anyway):
# about 6 s less per npm ci with a warm cache (measured outside Docker, 235 packages).
RUN --mount=type=cache,target=/root/.npm npm ci --ignore-scripts --prefer-offline --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run bundle
WORKDIR /app/prod
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --prefer-offline --no-audit --no-fund

# Runtime: production dependencies only, the compiled code and the fixtures (the emulator and
# `demo` serve fixtures/profiles.json). The npm cache stays in the build cache, not the image.
FROM node:22-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
COPY --from=build /app/prod/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY fixtures ./fixtures
# The code stays root-owned, read-only to the job. The job runs as `node` (uid 1000) in its
# home, which it may write (`demo` writes out/ there); relative paths of the command line and
# of job files are relative to it, or to the directory given with `docker run -w`.
USER node
WORKDIR /home/node
# Exec form: Node is PID 1 and gets SIGTERM itself; the export traps SIGTERM/SIGINT, stops
# within --grace, checkpoints and exits 143. No shell in between to swallow the signal.
# PID 1 gets no default signal actions from the kernel: a signal stops Node only where the
# code handles it. export and emulator do; demo and merge do not, so `docker stop` kills them
# after its timeout (harmless: they hold no state), or run them with `docker run --init`.
# Node does not reap orphans either; the job starts no child processes, so no init is needed.
# --max-old-space-size=128: the export's live data is small and bounded; without a limit V8
# grows its heap against the node's memory (peak RSS 218 MB, vs 152 MB with it at 1,000,000
# users: npm run bench), too close to a 256Mi pod limit. Same flag as the bin's shebang.
ENTRYPOINT ["node", "--max-old-space-size=128", "/app/dist/cli.js"]
CMD ["--help"]
