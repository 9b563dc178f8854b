import { i18n } from '@/i18n'

/** A metric's name for people: `eval.metrics.names.<name>`, judges (`judge:<rubric>`) by their rubric's name. */
export function metricLabel(name: string): string {
  const { t, te } = i18n.global
  if (name.startsWith('judge:')) {
    const rubric = name.slice('judge:'.length)
    return t('eval.metrics.judgeOf', { name: rubricLabel(rubric) })
  }
  return te(`eval.metrics.names.${name}`) ? t(`eval.metrics.names.${name}`) : name
}

/** A rubric's name for people (a custom rubric keeps the name its author gave it). */
export function rubricLabel(name: string): string {
  const { t, te } = i18n.global
  return te(`eval.metrics.rubrics.${name}`) ? t(`eval.metrics.rubrics.${name}`) : name
}

/** A metric whose name for people has no Hangul (BLEU, chrF, ROUGE-L): a proper name, marked translate="no". */
export function latinLabel(name: string): boolean {
  return !/[\u3131-\u318e\uac00-\ud7a3]/.test(metricLabel(name))
}
