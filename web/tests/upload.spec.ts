import { afterEach, describe, expect, it, vi } from 'vitest'
import { UploadInterrupted } from '@/api/resumable'
import { uploadVersion } from '@/api/upload'
import { json } from './helpers'

/** An in-memory stand-in for the resumable upload endpoints, with faults to inject. */
function fakeServer(faults: { dropPut?: number[] } = {}) {
  const state = {
    files: {} as Record<string, { size: number; data: Uint8Array }>,
    puts: [] as string[],
    completed: false,
  }
  let putCount = 0
  vi.spyOn(globalThis, 'fetch').mockImplementation(async (input) => {
    const request = input as Request
    const url = new URL(request.url)
    if (request.method === 'POST' && url.pathname === '/api/model/m1/uploads') {
      const body = await request.json()
      for (const f of body.files) state.files[f.path] = { size: f.size, data: new Uint8Array(0) }
      return json({ id: 'v1', version: 1, status: 'uploading' }, 201)
    }
    if (request.method === 'GET' && url.pathname === '/api/model/version/v1') {
      const files = Object.fromEntries(
        Object.entries(state.files).map(([p, f]) => [p, { size: f.size, received: f.data.length }]),
      )
      return json({ id: 'v1', progress: { files } })
    }
    if (request.method === 'PUT' && url.pathname.startsWith('/api/model/upload/v1/')) {
      putCount += 1
      const path = decodeURIComponent(url.pathname.slice('/api/model/upload/v1/'.length))
      const offset = Number(url.searchParams.get('offset'))
      const chunk = new Uint8Array(await request.arrayBuffer())
      state.puts.push(`${path}@${offset}`)
      const file = state.files[path]
      if (offset !== file.data.length) return json({ detail: 'resume', received: file.data.length }, 409)
      const merged = new Uint8Array(file.data.length + chunk.length)
      merged.set(file.data)
      merged.set(chunk, file.data.length)
      file.data = merged
      // The server stored the bytes but the answer is lost: the client must not send them twice.
      if (faults.dropPut?.includes(putCount)) throw new TypeError('Failed to fetch')
      return json({ path, received: file.data.length, size: file.size })
    }
    if (request.method === 'POST' && url.pathname === '/api/model/version/v1/complete') {
      state.completed = true
      return json({ id: 'v1', version: 1, status: 'ready' })
    }
    return json({ detail: `no route ${request.method} ${url.pathname}` }, 404)
  })
  return state
}

const text = (data: Uint8Array) => new TextDecoder().decode(data)
const weights = new File(['0123456789abcdefghij'], 'model.safetensors')
const config = new File(['{"a":1}'], 'config.json')

afterEach(() => vi.restoreAllMocks())

describe('resumable model upload', () => {
  it('sends files in chunks, survives a lost answer without duplicating bytes, and completes', async () => {
    const server = fakeServer({ dropPut: [2] })
    const progress: number[] = []
    const version = await uploadVersion('m1', [weights, config], {
      chunkSize: 8,
      backoffMs: 0,
      onProgress: (loaded) => progress.push(loaded),
    })
    expect(version.status).toBe('ready')
    expect(text(server.files['model.safetensors'].data)).toBe('0123456789abcdefghij')
    expect(text(server.files['config.json'].data)).toBe('{"a":1}')
    expect(server.puts).toEqual(['model.safetensors@0', 'model.safetensors@8', 'model.safetensors@16', 'config.json@0'])
    expect(progress.at(-1)).toBe(27)
    expect([...progress].sort((a, b) => a - b)).toEqual(progress)
  })

  it('pauses, then resumes from what the server holds', async () => {
    const server = fakeServer()
    const pause = new AbortController()
    const first = uploadVersion('m1', [weights], {
      chunkSize: 8,
      onProgress: (loaded) => loaded >= 8 && pause.abort(),
      signal: pause.signal,
    })
    const stopped = await first.catch((e) => e)
    expect(stopped).toBeInstanceOf(UploadInterrupted)
    expect(stopped.versionId).toBe('v1')
    expect(server.completed).toBe(false)

    await uploadVersion('m1', [weights], { chunkSize: 8, versionId: 'v1' })
    expect(server.puts).toEqual(['model.safetensors@0', 'model.safetensors@8', 'model.safetensors@16'])
    expect(server.completed).toBe(true)
  })

  it('refuses to resume with different files', async () => {
    fakeServer()
    await uploadVersion('m1', [weights], { chunkSize: 64 })
    const wrong = await uploadVersion('m1', [config], { versionId: 'v1' }).catch((e) => e)
    expect(wrong).toBeInstanceOf(UploadInterrupted)
    expect(wrong.message).toContain('model.safetensors')
  })

  it('reports the server’s reason when the upload cannot start', async () => {
    vi.spyOn(globalThis, 'fetch').mockResolvedValue(
      json(
        {
          type: 'https://axops.dev/problems/empty_file',
          title: 'Invalid',
          status: 422,
          detail: 'config.json: is empty (0 bytes)',
          file: 'config.json',
        },
        422,
      ),
    )
    const error = await uploadVersion('m1', [config]).catch((e) => e)
    expect(error).toBeInstanceOf(UploadInterrupted)
    expect(error.message).toBe("'config.json' 파일이 비어 있습니다(0바이트).")
    expect(error.versionId).toBeNull()
  })
})
