import { afterEach, describe, expect, it } from 'vitest'
import { ApiError, apiError, problemCode, problemDetail, unwrap } from '@/api/client'
import { failure } from '@/api/http'
import { i18n } from '@/i18n'
import en from '@/i18n/en'
import ko from '@/i18n/ko'

const BASE = 'https://axops.dev/problems/'

afterEach(() => {
  i18n.global.locale.value = 'ko'
})

describe('server errors in the reader language', () => {
  it('translates a problem by the code in its type, filling the message from its extension fields', () => {
    const taken = {
      type: BASE + 'username_taken',
      status: 409,
      detail: "The username 'kim' is taken.",
      username: 'kim',
    }
    expect(problemCode(taken)).toBe('username_taken')
    expect(problemDetail(taken)).toBe("'kim' 사용자 이름은 이미 사용 중입니다.")
    i18n.global.locale.value = 'en'
    expect(problemDetail(taken)).toBe("The username 'kim' is taken.")
  })

  it('says the login failure in Korean, without a request id for a known code', () => {
    const wrong = {
      type: BASE + 'invalid_credentials',
      status: 401,
      detail: 'Invalid username or password.',
      request_id: 'req-1',
    }
    expect(problemDetail(wrong)).toBe('사용자 이름 또는 비밀번호가 올바르지 않습니다.')
  })

  it('joins list fields and translates status words inside the message', () => {
    const job = {
      type: BASE + 'job_not_cancellable',
      status: 409,
      detail: 'The job is succeeded; …',
      job_status: 'succeeded',
    }
    expect(problemDetail(job)).toBe('작업이 성공 상태입니다. 대기 중이거나 실행 중인 작업만 취소할 수 있습니다.')
    const approval = {
      type: BASE + 'dataset_not_approved',
      status: 409,
      detail: "Dataset 'faq' v2 is draft, not approved for training.",
      dataset: 'faq',
      version: 2,
      review_status: 'draft',
    }
    expect(problemDetail(approval)).toBe("데이터셋 'faq' v2은(는) 학습용으로 승인되지 않았습니다(초안).")
    expect(problemDetail({ type: BASE + 'provider_in_use', status: 409, routes: ['a', 'b'] })).toBe(
      '이 프로바이더를 쓰는 라우트가 있습니다: a, b',
    )
    const restricted = { type: BASE + 'dataset_restricted', status: 403, sensitivity: 'restricted' }
    expect(problemDetail(restricted)).toBe('민감도 등급(제한) 때문에 원본 행을 볼 수 없습니다.')
  })

  it('translates field errors by location and pydantic type, with the constraint', () => {
    const problem = {
      type: BASE + 'validation_error',
      status: 422,
      detail: 'Invalid fields: password, max_steps',
      errors: [
        {
          loc: ['body', 'password'],
          msg: 'String should have at least 12 characters',
          type: 'string_too_short',
          ctx: { min_length: 12 },
        },
        {
          loc: ['body', 'hyper', 'max_steps'],
          msg: 'Input should be greater than 0',
          type: 'greater_than',
          ctx: { gt: 0 },
        },
        {
          loc: ['body', 'name'],
          msg: "String should match pattern '^[a-z]+$'",
          type: 'string_pattern_mismatch',
          ctx: { pattern: '^[a-z]+$' },
        },
        { loc: ['body', 'username'], msg: 'Field required', type: 'missing' },
        { loc: ['body', 'odd_field'], msg: 'Something odd', type: 'some_new_type' },
      ],
    }
    expect(problemDetail(problem)).toBe(
      '입력값이 올바르지 않습니다. (비밀번호: 12자 이상이어야 합니다; 최대 스텝: 0보다 커야 합니다; ' +
        '이름: 허용되지 않는 문자나 형식입니다; 사용자 이름: 필수 항목입니다; odd_field: 올바르지 않은 값입니다)',
    )
    i18n.global.locale.value = 'en'
    expect(problemDetail(problem)).toContain('Password: at least 12 characters; Max steps: must be greater than 0')
    expect(problemDetail(problem)).toContain('odd_field: Something odd') // the English UI may show the server's words
  })

  it('falls back to a Korean message per HTTP status for an unknown code, never the English detail, keeping the request id', () => {
    const unknown = { type: BASE + 'brand_new_code', status: 409, detail: 'Something English.', request_id: 'abc123' }
    expect(problemDetail(unknown)).toBe('현재 상태에서는 이 작업을 할 수 없습니다. (요청 ID: abc123)')
    expect(problemDetail({ status: 418, detail: 'teapot' })).toBe('요청을 처리하지 못했습니다(418).')
    const crash = {
      type: BASE + 'internal_error',
      status: 500,
      detail: 'An unexpected error occurred.',
      request_id: 'r9',
    }
    expect(problemDetail(crash)).toBe('서버 오류가 발생했습니다. (요청 ID: r9)')
    i18n.global.locale.value = 'en'
    expect(problemDetail(unknown)).toBe('Something English. (Request ID: abc123)')
  })

  it('handles what is not a problem: status fallbacks, network failures, errors already translated', () => {
    expect(problemDetail(null, '404 Not Found')).toBe('찾을 수 없습니다.')
    expect(problemDetail(null, 'fallback')).toBe('fallback')
    expect(problemDetail(new TypeError('Failed to fetch'))).toBe('서버에 연결하지 못했습니다.')
    expect(problemDetail(new ApiError('이미 번역됨'))).toBe('이미 번역됨')
  })

  it('unwrap and failure throw and return the translated message, keeping code, status and request id', async () => {
    const body = { type: BASE + 'dataset_not_found', status: 404, detail: 'No such dataset.', request_id: 'q1' }
    const response = new Response(JSON.stringify(body), { status: 404 })
    let thrown: unknown
    try {
      unwrap({ error: body, response })
    } catch (e) {
      thrown = e
    }
    expect(thrown).toBeInstanceOf(ApiError)
    expect((thrown as ApiError).message).toBe('데이터셋을 찾을 수 없습니다.')
    expect([(thrown as ApiError).code, (thrown as ApiError).status, (thrown as ApiError).requestId]).toEqual([
      'dataset_not_found',
      404,
      'q1',
    ])
    expect(apiError(undefined, 502).message).toBe('모델 서버에 연결하지 못했습니다.')
    expect(await failure(new Response(JSON.stringify(body), { status: 404 }))).toBe('데이터셋을 찾을 수 없습니다.')
    expect(await failure(new Response('<html>gateway</html>', { status: 503 }))).toBe(
      '서비스를 잠시 사용할 수 없습니다.',
    )
  })

  it('has the same problem, validation and field keys in both languages', () => {
    const keys = (o: object) => Object.keys(o).sort()
    expect(keys(ko.problems)).toEqual(keys(en.problems))
    expect(keys(ko.problems.status)).toEqual(keys(en.problems.status))
    expect(keys(ko.validation)).toEqual(keys(en.validation))
    expect(keys(ko.fields)).toEqual(keys(en.fields))
  })
})
