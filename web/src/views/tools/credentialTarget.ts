// Where an HTTP tool's spec sends its stored credential, as tools/service.py::_credential_target computes it:
// a new version that changes it (the base URL's origin or the auth placement) makes the server drop the credential.

const DEFAULT_PORTS: Record<string, number> = { http: 80, https: 443 }

export type CredentialTarget = [scheme: string, host: string, port: number | null, type: string, name: string]

export function credentialTarget(spec: Record<string, unknown> | null | undefined): CredentialTarget {
  const auth = (spec?.auth ?? {}) as { type?: unknown; name?: unknown }
  const placement = [String(auth.type ?? ''), String(auth.name ?? '')] as const
  try {
    const url = new URL(String(spec?.base_url ?? ''))
    const scheme = url.protocol.replace(/:$/, '').toLowerCase()
    const port = url.port ? Number(url.port) : (DEFAULT_PORTS[scheme] ?? null)
    return [scheme, url.hostname.toLowerCase(), port, ...placement]
  } catch {
    return ['', '', null, ...placement]
  }
}

/** Whether saving `next` as a new version drops the tool's stored credential (the server removes it, audited). */
export function dropsCredential(
  tool: { kind: string; has_credential: boolean } | null | undefined,
  before: Record<string, unknown> | null | undefined,
  next: Record<string, unknown> | null | undefined,
): boolean {
  if (!tool || tool.kind !== 'http' || !tool.has_credential || !next) return false
  const a = credentialTarget(before)
  const b = credentialTarget(next)
  return a.some((part, i) => part !== b[i])
}
