import { computed, onUnmounted, reactive, ref } from 'vue'
import type { DatasetVersion } from '@/api/datasets'
import { discardDatasetUpload, UploadRejected, uploadDataset, type UploadTarget } from '@/api/datasetUpload'
import { UploadInterrupted } from '@/api/resumable'

/**
 * A resumable dataset upload on a page: progress and speed while it runs, what to resume or discard
 * after a pause or a dropped connection, and the server's reason when it refuses the file.
 */
export function useDatasetUpload() {
  const running = ref<{ loaded: number; total: number; from: number; started: number } | null>(null)
  const interrupted = ref<{ versionId: string; datasetId: string | null; message: string } | null>(null)
  const rejected = ref<{ message: string; datasetId: string; versionId: string } | null>(null)
  const error = ref<string | null>(null)
  let pauser: AbortController | null = null

  const percent = computed(() =>
    running.value?.total ? Math.floor((100 * running.value.loaded) / running.value.total) : 0,
  )
  const speed = computed(() => {
    const u = running.value
    const seconds = u ? (performance.now() - u.started) / 1000 : 0
    return u && seconds > 0.5 ? (u.loaded - u.from) / seconds : null
  })

  /** Upload (or resume) a file; the new version, or null when it stopped, failed or was refused (see the refs). */
  async function start(
    target: UploadTarget,
    file: File,
    resumeId: string | null = null,
    onStart?: (v: DatasetVersion) => void,
  ) {
    pauser = new AbortController()
    interrupted.value = null
    rejected.value = null
    error.value = null
    running.value = { loaded: 0, total: file.size, from: -1, started: performance.now() }
    try {
      return await uploadDataset(target, file, {
        versionId: resumeId,
        signal: pauser.signal,
        onStart,
        onProgress: (loaded, total) => {
          if (!running.value) return
          if (running.value.from < 0) Object.assign(running.value, { from: loaded, started: performance.now() })
          Object.assign(running.value, { loaded, total })
        },
      })
    } catch (e) {
      if (e instanceof UploadRejected)
        rejected.value = { message: e.message, datasetId: e.datasetId, versionId: e.versionId }
      else if (e instanceof UploadInterrupted && e.versionId)
        interrupted.value = { versionId: e.versionId, datasetId: e.datasetId, message: e.message }
      else error.value = (e as Error).message
      return null
    } finally {
      running.value = null
      pauser = null
    }
  }

  const pause = () => pauser?.abort()

  async function discard(versionId: string) {
    await discardDatasetUpload(versionId)
    if (interrupted.value?.versionId === versionId) interrupted.value = null
  }

  function reset() {
    interrupted.value = null
    rejected.value = null
    error.value = null
  }

  onUnmounted(pause)
  return reactive({ running, interrupted, rejected, error, percent, speed, start, pause, discard, reset })
}

export type DatasetUpload = ReturnType<typeof useDatasetUpload>
