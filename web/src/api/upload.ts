import { type Schemas } from '@/api/client'
import { call, failure } from '@/api/http'
import { discard, sendFile, UploadInterrupted, type ChunkOptions } from '@/api/resumable'

type Version = Schemas['VersionOut']

export interface UploadOptions extends ChunkOptions {
  /** Continue this version's upload instead of declaring a new one. */
  versionId?: string | null
  baseVersionId?: string | null
  onStart?: (versionId: string) => void
  onProgress?: (loaded: number, total: number) => void
}

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

  const { chunkSize, retries, backoffMs, signal } = options
  for (const file of files) {
    const id = versionId
    await sendFile(file, {
      chunkSize,
      retries,
      backoffMs,
      signal,
      url: (offset) => `/api/model/upload/${id}/${filePath(file.name)}?offset=${offset}`,
      received: received[file.name] ?? 0,
      resync: async () => {
        received = { ...received, ...(await receivedSoFar(id)) }
        return received[file.name]
      },
      onProgress: (n) => {
        received[file.name] = n
        report()
      },
      interrupted: (message) => new UploadInterrupted(message, id),
    })
  }

  const response = await call('POST', `/api/model/version/${versionId}/complete`)
  if (!response.ok) throw new UploadInterrupted(await failure(response), null)
  return (await response.json()) as Version
}

/** Give up an upload in progress: the server deletes what it received. */
export const discardUpload = (versionId: string) => discard(`/api/model/version/${versionId}/upload`)
