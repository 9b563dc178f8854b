import { afterEach, describe, expect, it, vi } from 'vitest'
import { discard, sendFile, UploadInterrupted } from '@/api/resumable'
import { json } from './helpers'

/** One file's chunk endpoint, holding `held` bytes already, with a status to answer instead of storing. */
function fakeEndpoint(held: number, fail: (put: number) => number | null = () => null) {
  const state = { data: 'x'.repeat(held), puts: [] as number[] }
  vi.spyOn(globalThis, 'fetch').mockImplementation(async (input) => {
    const request = input as Request
    const offset = Number(new URL(request.url).searchParams.get('offset'))
    state.puts.push(offset)
    const status = fail(state.puts.length)
    if (status) return json({ detail: `failed with ${status}` }, status)
    if (offset !== state.data.length) return json({ detail: 'resume', received: state.data.length }, 409)
    state.data += await request.text()
    return json({ received: state.data.length, size: 20 })
  })
  return state
}

const file = new File(['0123456789abcdefghij'], 'data.csv')
const interrupted = (message: string) => new UploadInterrupted(message, 'v1')

afterEach(() => vi.restoreAllMocks())

describe('resumable chunks', () => {
  it('after a 409, carries on from the offset the server reports', async () => {
    const server = fakeEndpoint(8) // a previous attempt sent 8 bytes the client does not know of
    const progress: number[] = []
    await sendFile(file, {
      url: (offset) => `/api/x?offset=${offset}`,
      received: 0,
      resync: async () => undefined,
      onProgress: (n) => progress.push(n),
      interrupted,
      chunkSize: 8,
    })
    expect(server.puts).toEqual([0, 8, 16])
    expect(server.data).toBe('x'.repeat(8) + '89abcdefghij')
    expect(progress).toEqual([8, 16, 20])
  })

  it('retries a failing server with backoff, from what it holds, then gives up naming the upload', async () => {
    const server = fakeEndpoint(0, (put) => (put === 2 ? 503 : null))
    const resync = vi.fn(async () => 8)
    await sendFile(file, {
      url: (o) => `/api/x?offset=${o}`,
      received: 0,
      resync,
      interrupted,
      chunkSize: 8,
      backoffMs: 0,
    })
    expect(server.puts).toEqual([0, 8, 8, 16])
    expect(resync).toHaveBeenCalledOnce()

    fakeEndpoint(0, () => 503)
    const error = await sendFile(file, {
      url: (o) => `/api/x?offset=${o}`,
      received: 0,
      resync: async () => 0,
      interrupted,
      retries: 2,
      backoffMs: 0,
    }).catch((e) => e)
    expect(error).toBeInstanceOf(UploadInterrupted)
    expect(error.versionId).toBe('v1')
    expect(error.message).toBe('서비스를 잠시 사용할 수 없습니다.') // the status in the reader's language
  })

  it('stops at once on a refusal, and on a pause', async () => {
    const server = fakeEndpoint(0, () => 403)
    const refused = await sendFile(file, {
      url: () => '/api/x?offset=0',
      received: 0,
      resync: async () => 0,
      interrupted,
    }).catch((e) => e)
    expect(refused.message).toBe('이 작업을 할 권한이 없습니다.')
    expect(server.puts).toEqual([0])

    const pause = new AbortController()
    pause.abort()
    const paused = await sendFile(file, {
      url: () => '/api/x',
      received: 0,
      resync: async () => 0,
      interrupted,
      signal: pause.signal,
    }).catch((e) => e)
    expect(paused.message).toBe('Paused')
  })

  it('discards: a missing upload is already gone', async () => {
    vi.spyOn(globalThis, 'fetch').mockResolvedValue(json({ detail: 'No such model version.' }, 404))
    await expect(discard('/api/model/version/v1/upload')).resolves.toBeUndefined()
  })
})
