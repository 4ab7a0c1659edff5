# Two stages: the build compiles the TypeScript, the image runs the compiled JavaScript with the
# production dependencies only (`npm start` would rebuild first, and TypeScript is not there).
FROM node:24-slim AS build
WORKDIR /app
# python3, make and g++: node-gyp builds the malloc-trim addon on install (native/malloc-trim)
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
COPY native ./native
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:24-slim
WORKDIR /app
ENV NODE_ENV=production
# glibc's allocator: two arenas, and batch buffers mapped and unmapped rather than kept in the
# heap after a crowd (docs/decisions/0008-stream-memory.md); what a crowd frees in the heaps goes
# back by malloc_trim once no response runs (0009)
ENV MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072 MALLOC_TRIM_THRESHOLD_=131072
# the production dependencies as the build stage installed them, its compiled addon included
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/native ./native
COPY --from=build /app/dist ./dist
USER node
EXPOSE 3000
# /ready: the database answers and the process is not shutting down (node:24-slim has no curl)
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "--max-semi-space-size=4", "dist/src/server.js"]
