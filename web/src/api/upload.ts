import { type Schemas } from '@/api/client'
import { call, failure, sleep, transient } from '@/api/http'

type Version = Schemas['VersionOut']

export interface UploadOptions {
  /** Continue this version's upload instead of declaring a new one. */
  versionId?: string | null
  baseVersionId?: string | null
  chunkSize?: number
  /** Attempts per chunk before giving up (the upload can still be resumed later). */
  retries?: number
  /** Milliseconds before the first retry; doubled after each failure. */
  backoffMs?: number
  signal?: AbortSignal
  onStart?: (versionId: string) => void
  onProgress?: (loaded: number, total: number) => void
}

/** An upload that stopped part-way: `versionId` names the server-side upload to resume or discard. */
export class UploadInterrupted extends Error {
  constructor(
    message: string,
    readonly versionId: string | null,
  ) {
    super(message)
  }
}

const CHUNK = 8 * 1024 * 1024

function filePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/')
}

/** Bytes the server already holds per file of an upload in progress. */
async function receivedSoFar(versionId: string): Promise<Record<string, number>> {
  const response = await call('GET', `/api/model/version/${versionId}`)
  if (!response.ok) throw new UploadInterrupted(await failure(response), versionId)
  const version = (await response.json()) as Version
  const files = (version.progress?.files ?? {}) as Record<string, { received: number; size: number }>
  return Object.fromEntries(Object.entries(files).map(([path, f]) => [path, f.received]))
}

/**
 * Upload files as a new model version with the resumable protocol: declare the files, PUT each
 * one in chunks at the offset the server expects, then complete. A failed chunk is retried with
 * backoff from the offset the server reports; a pause (abort) or exhausted retries leave the
 * upload on the server, to be resumed with `versionId` and the same files.
 */
export async function uploadVersion(modelId: string, files: File[], options: UploadOptions = {}): Promise<Version> {
  const { chunkSize = CHUNK, retries = 5, backoffMs = 1000, signal } = options
  const total = files.reduce((sum, f) => sum + f.size, 0)
  let versionId = options.versionId ?? null
  let received: Record<string, number>
  if (versionId) {
    received = await receivedSoFar(versionId)
    const declared = Object.keys(received).sort().join('\n')
    if (
      declared !==
      files
        .map((f) => f.name)
        .sort()
        .join('\n')
    ) {
      throw new UploadInterrupted(`Choose the same files as before: ${Object.keys(received).join(', ')}`, versionId)
    }
  } else {
    const declared = {
      files: files.map((f) => ({ path: f.name, size: f.size })),
      base_version_id: options.baseVersionId ?? null,
    }
    const response = await call('POST', `/api/model/${modelId}/uploads`, JSON.stringify(declared), true)
    if (!response.ok) throw new UploadInterrupted(await failure(response), null)
    versionId = ((await response.json()) as Version).id
    received = Object.fromEntries(files.map((f) => [f.name, 0]))
  }
  options.onStart?.(versionId)
  const report = () =>
    options.onProgress?.(
      Object.values(received).reduce((a, b) => a + b, 0),
      total,
    )
  report()

  for (const file of files) {
    let failures = 0
    while ((received[file.name] ?? 0) < file.size) {
      if (signal?.aborted) throw new UploadInterrupted('Paused', versionId)
      const offset = received[file.name] ?? 0
      const url = `/api/model/upload/${versionId}/${filePath(file.name)}?offset=${offset}`
      let problem: string
      try {
        const response = await call('PUT', url, await file.slice(offset, offset + chunkSize).arrayBuffer())
        if (response.ok) {
          received[file.name] = ((await response.json()) as { received: number }).received
          failures = 0
          report()
          continue
        }
        const body = await response
          .clone()
          .json()
          .catch(() => ({}))
        if (response.status === 409 && typeof body.received === 'number') {
          received[file.name] = body.received // the server is elsewhere: carry on from there
          continue
        }
        problem = await failure(response)
        if (!transient(response.status)) throw new UploadInterrupted(problem, versionId)
      } catch (error) {
        if (error instanceof UploadInterrupted) throw error
        problem = (error as Error).message // the network dropped
      }
      if (++failures > retries) throw new UploadInterrupted(problem, versionId)
      await sleep(backoffMs * 2 ** (failures - 1) * (0.5 + Math.random()))
      received = { ...received, ...(await receivedSoFar(versionId).catch(() => ({}))) }
    }
  }

  const response = await call('POST', `/api/model/version/${versionId}/complete`)
  if (!response.ok) throw new UploadInterrupted(await failure(response), null)
  return (await response.json()) as Version
}

/** Give up an upload in progress: the server deletes what it received. */
export async function discardUpload(versionId: string): Promise<void> {
  const response = await call('DELETE', `/api/model/version/${versionId}/upload`)
  if (!response.ok && response.status !== 404) throw new Error(await failure(response))
}
