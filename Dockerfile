# syntax=docker/dockerfile:1
# Tokensmith's image: `docker compose up -d` with docker-compose.yml (README: Running in a
# container), or `docker build -t tokensmith .`. test/operations/container.test.ts checks it.

# Build: every dependency, then `npm run build` (tsc into dist/).
FROM node:24-trixie-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY gen ./gen
RUN npm run build

# Runtime: Node 24 LTS (TARGET_NODE_MAJOR of src/runtime-support.ts), production dependencies
# only, the compiled build (bin/tokensmith.js runs dist/ under NODE_ENV=production) and the
# committed console bundle. The files stay root's: the server cannot change its own code.
FROM node:24-trixie-slim AS runtime
WORKDIR /app
ENV NODE_ENV=production \
    TOKENSMITH_HOST=0.0.0.0 \
    TOKENSMITH_PORT=8080
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY bin ./bin
COPY static ./static
COPY --from=build /app/dist ./dist
# The official image's unprivileged user (uid 1000).
USER node
EXPOSE 8080
# Slim images have no curl: Node's fetch asks /readyz (503 while Redis is unreachable or
# evicting, or while shutting down).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.TOKENSMITH_PORT || 8080) + '/readyz', { signal: AbortSignal.timeout(4000) }).then((response) => process.exit(response.ok ? 0 : 1), () => process.exit(1))"]
# Exec form, node itself (no sh, no npm) as PID 1: SIGTERM from `docker stop` reaches the
# server, which drains (shutdownDelaySeconds, shutdownGraceSeconds) and exits. The node flags
# are the ones `npm start` uses (package.json). Other commands: `docker run IMAGE secret new`.
ENTRYPOINT ["node", "--max-semi-space-size=64", "bin/tokensmith.js"]
CMD ["serve"]
