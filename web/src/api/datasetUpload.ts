import { call, failure, sleep, transient } from '@/api/http'
import type { DatasetCreate, DatasetVersion } from '@/api/datasets'

/** Where the file goes: a new version of an existing dataset, or the first version of a new one. */
export type UploadTarget = { datasetId: string } | { dataset: DatasetCreate }

export interface DatasetUploadOptions {
  /** Continue this version's upload instead of declaring a new one. */
  versionId?: string | null
  chunkSize?: number
  /** Attempts per chunk before giving up (the upload can still be resumed later). */
  retries?: number
  /** Milliseconds before the first retry; doubled after each failure. */
  backoffMs?: number
  signal?: AbortSignal
  /** The declared (or resumed) version: its id and its dataset's id. */
  onStart?: (version: DatasetVersion) => void
  onProgress?: (loaded: number, total: number) => void
}

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

/** The whole file arrived but the server refused it (it does not parse): the message names the line at fault. */
export class UploadRejected extends Error {
  constructor(
    message: string,
    readonly versionId: string,
    readonly datasetId: string,
  ) {
    super(message)
  }
}

const CHUNK = 8 * 1024 * 1024

async function getVersion(versionId: string): Promise<DatasetVersion> {
  const response = await call('GET', `/api/dataset/version/${versionId}`)
  if (!response.ok) throw new UploadInterrupted(await failure(response), versionId)
  return (await response.json()) as DatasetVersion
}

const receivedOf = (v: DatasetVersion) => Number((v.progress as { received?: number }).received ?? 0)

/**
 * Upload one data file (CSV, TSV, JSONL, Parquet) with the resumable protocol: declare it, PUT its
 * bytes in chunks at the offset the server expects, then complete (the server parses it then). A
 * failed chunk is retried with backoff from the offset the server reports; a pause (abort) or
 * exhausted retries leave the upload on the server, to be resumed with `versionId` and the same file.
 * A file the server cannot parse ends in `UploadRejected`, whose message names the line at fault.
 */
export async function uploadDataset(
  target: UploadTarget,
  file: File,
  options: DatasetUploadOptions = {},
): Promise<DatasetVersion> {
  const { chunkSize = CHUNK, retries = 5, backoffMs = 1000, signal } = options
  let version: DatasetVersion
  if (options.versionId) {
    version = await getVersion(options.versionId)
    const declared = Number((version.progress as { size?: number }).size ?? version.size)
    if (version.status !== 'uploading')
      throw new UploadInterrupted(`v${version.version}: ${version.status}`, null, version.dataset_id)
    if (declared !== file.size) {
      throw new UploadInterrupted(
        `Choose the same file as before: ${version.filename} (${declared} bytes)`,
        version.id,
        version.dataset_id,
      )
    }
  } else {
    const declared =
      'datasetId' in target
        ? { dataset_id: target.datasetId, filename: file.name, size: file.size }
        : { dataset: target.dataset, filename: file.name, size: file.size }
    const response = await call('POST', '/api/dataset/uploads', JSON.stringify(declared), true)
    if (!response.ok) throw new UploadInterrupted(await failure(response), null)
    version = (await response.json()) as DatasetVersion
  }
  const { id: versionId, dataset_id: datasetId } = version
  const interrupted = (message: string) => new UploadInterrupted(message, versionId, datasetId)
  options.onStart?.(version)
  let received = receivedOf(version)
  options.onProgress?.(received, file.size)

  let failures = 0
  while (received < file.size) {
    if (signal?.aborted) throw interrupted('Paused')
    const offset = received
    let problem: string
    try {
      const chunk = await file.slice(offset, offset + chunkSize).arrayBuffer()
      const response = await call('PUT', `/api/dataset/upload/${versionId}?offset=${offset}`, chunk)
      if (response.ok) {
        received = ((await response.json()) as { received: number }).received
        failures = 0
        options.onProgress?.(received, file.size)
        continue
      }
      const body = await response
        .clone()
        .json()
        .catch(() => ({}))
      if (response.status === 409 && typeof body.received === 'number') {
        received = body.received // the server is elsewhere: carry on from there
        options.onProgress?.(received, file.size)
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
    const now = await getVersion(versionId).catch(() => null)
    if (now) received = receivedOf(now)
  }
  return complete(versionId, datasetId)
}

async function complete(versionId: string, datasetId: string): Promise<DatasetVersion> {
  let response: Response
  try {
    response = await call('POST', `/api/dataset/version/${versionId}/complete`)
  } catch (error) {
    // The answer may be lost after the server finished: its version tells.
    const now = await getVersion(versionId).catch(() => null)
    if (now && now.status !== 'uploading') return settled(now)
    throw new UploadInterrupted((error as Error).message, versionId, datasetId)
  }
  if (response.status === 422) throw new UploadRejected(await failure(response), versionId, datasetId)
  if (!response.ok) throw new UploadInterrupted(await failure(response), versionId, datasetId)
  return (await response.json()) as DatasetVersion
}

function settled(version: DatasetVersion): DatasetVersion {
  if (version.status === 'failed') throw new UploadRejected(version.error ?? 'failed', version.id, version.dataset_id)
  return version
}

/** Give up an upload in progress: the server deletes what it received. */
export async function discardDatasetUpload(versionId: string): Promise<void> {
  const response = await call('DELETE', `/api/dataset/version/${versionId}/upload`)
  if (!response.ok && response.status !== 404) throw new Error(await failure(response))
}
