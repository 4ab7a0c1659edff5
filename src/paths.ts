import { fileURLToPath } from 'node:url'

/** The project's folder: this file is src/paths.ts when run from sources, dist/src/paths.js when built. */
export const ROOT = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../' : '../../', import.meta.url))
