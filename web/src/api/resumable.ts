import { call, failure, sleep, transient } from '@/api/http'

/**
 * The client side of the resumable upload protocol (the server's is core/uploads.py): a file's bytes
 * go in order, one chunk a request, each PUT at the offset the server has reached. A 409 carrying
 * `received` says where the server is; a failed chunk is retried with backoff from what the server
 * holds. Models (api/upload.ts) and datasets (api/datasetUpload.ts) declare and complete their own way.
 */

/** An upload that stopped part-way: `versionId` names the server-side upload to resume or discard. */
export class UploadInterrupted extends Error {
  constructor(
    message: string,
    readonly versionId: string | null,
    readonly datasetId: string | null = null,
  ) {
    super(message)
  }
}

export interface ChunkOptions {
  chunkSize?: number
  /** Attempts per chunk before giving up (the upload can still be resumed later). */
  retries?: number
  /** Milliseconds before the first retry; doubled after each failure. */
  backoffMs?: number
  signal?: AbortSignal
}

export interface SendFile extends ChunkOptions {
  /** Where the chunk at `offset` goes. */
  url: (offset: number) => string
  /** Bytes the server already holds. */
  received: number
  /** Bytes the server holds now, asked after a failure (undefined when it cannot tell). */
  resync: () => Promise<number | undefined>
  onProgress?: (received: number) => void
  /** The error that ends the upload here (it names the upload to resume). */
  interrupted: (message: string) => UploadInterrupted
}

export const CHUNK = 8 * 1024 * 1024

/** Send `file` from `received` to its end; throws `interrupted(…)` on a pause, a refusal or exhausted retries. */
export async function sendFile(file: File, options: SendFile): Promise<void> {
  const { chunkSize = CHUNK, retries = 5, backoffMs = 1000, signal, interrupted } = options
  let received = options.received
  let failures = 0
  while (received < file.size) {
    if (signal?.aborted) throw interrupted('Paused')
    const offset = received
    let problem: string
    try {
      const response = await call(
        'PUT',
        options.url(offset),
        await file.slice(offset, offset + chunkSize).arrayBuffer(),
      )
      if (response.ok) {
        received = ((await response.json()) as { received: number }).received
        failures = 0
        options.onProgress?.(received)
        continue
      }
      const body = await response
        .clone()
        .json()
        .catch(() => ({}))
      if (response.status === 409 && typeof body.received === 'number') {
        received = body.received // the server is elsewhere: carry on from there
        options.onProgress?.(received)
        continue
      }
      problem = await failure(response)
      if (!transient(response.status)) throw interrupted(problem)
    } catch (error) {
      if (error instanceof UploadInterrupted) throw error
      problem = (error as Error).message // the network dropped
    }
    if (++failures > retries) throw interrupted(problem)
    await sleep(backoffMs * 2 ** (failures - 1) * (0.5 + Math.random()))
    received = (await options.resync().catch(() => undefined)) ?? received
  }
}

/** Give up an upload in progress (DELETE `path`): the server deletes what it received. */
export async function discard(path: string): Promise<void> {
  const response = await call('DELETE', path)
  if (!response.ok && response.status !== 404) throw new Error(await failure(response))
}
