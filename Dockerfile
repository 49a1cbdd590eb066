# syntax=docker/dockerfile:1
# frs-meter image: a build stage compiles the TypeScript; the runtime stage holds production
# dependencies only and runs as the unprivileged `node` user. The same image runs the bundled
# emulator (`npm run emulator`, compose profile `demo`), which runs from src/ through ts-node.

FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY src ./src
COPY migrations ./migrations
RUN npm run build

FROM node:20-slim AS runtime
ENV NODE_ENV=production \
    PORT=8080 \
    FRS_METER_DATA_DIR=/app/.frs-meter
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY tsconfig.json ./
COPY src ./src
RUN mkdir -p /app/.frs-meter && chown node:node /app/.frs-meter
USER node
EXPOSE 8080
# slim images have no curl: ask Node (fetch is built in) for /healthz.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# --max-semi-space-size=1: see README "Scaling out" (young-generation size bounds the memory a busy proxy holds).
CMD ["node", "--max-semi-space-size=1", "dist/src/main.js"]
