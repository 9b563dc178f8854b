/** A rule's answer: true when the value passes, else the reason in the reader's language. */
export type RuleResult = true | string

/**
 * What keeps a form from being sent, field by field: "Username: Required". A submit button is disabled
 * while this list is not empty, and the list is shown beside it, so a disabled button always says why.
 */
export function formProblems(fields: [label: string, ...results: RuleResult[]][]): string[] {
  const out: string[] = []
  for (const [label, ...results] of fields) {
    const failed = results.find((r) => r !== true)
    if (failed !== undefined) out.push(`${label}: ${failed}`)
  }
  return out
}
