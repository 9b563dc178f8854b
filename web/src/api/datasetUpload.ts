import { call, failure } from '@/api/http'
import type { DatasetCreate, DatasetVersion } from '@/api/datasets'
import { discard, sendFile, UploadInterrupted, type ChunkOptions } from '@/api/resumable'

/** Where the file goes: a new version of an existing dataset, or the first version of a new one. */
export type UploadTarget = { datasetId: string } | { dataset: DatasetCreate }

export interface DatasetUploadOptions extends ChunkOptions {
  /** Continue this version's upload instead of declaring a new one. */
  versionId?: string | null
  /** The declared (or resumed) version: its id and its dataset's id. */
  onStart?: (version: DatasetVersion) => void
  onProgress?: (loaded: number, total: number) => void
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
  const received = receivedOf(version)
  options.onProgress?.(received, file.size)
  const { chunkSize, retries, backoffMs, signal } = options
  await sendFile(file, {
    chunkSize,
    retries,
    backoffMs,
    signal,
    url: (offset) => `/api/dataset/upload/${versionId}?offset=${offset}`,
    received,
    resync: async () => receivedOf(await getVersion(versionId)),
    onProgress: (n) => options.onProgress?.(n, file.size),
    interrupted,
  })
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
export const discardDatasetUpload = (versionId: string) => discard(`/api/dataset/version/${versionId}/upload`)
