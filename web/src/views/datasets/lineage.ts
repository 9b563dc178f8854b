import { useI18n } from 'vue-i18n'
import type { DatasetVersion } from '@/api/datasets'

interface Lineage {
  masked_from?: number
  entities?: string[]
  mode?: string
  columns?: string[] | null
  values_changed?: number
  split_from?: number
  part?: string
  seed?: number
  stratify_column?: string | null
}

/** Where a version came from, in words: "masked from v1 (RRN, PHONE · mask)", "split from v1 (train · seed 42)". */
export function useLineage() {
  const { t } = useI18n()
  return (v: DatasetVersion): string => {
    const l = v.lineage as Lineage
    if (v.source === 'masked' && l.masked_from !== undefined) {
      return t('datasets.lineageMasked', {
        v: l.masked_from,
        entities: (l.entities ?? []).join(', '),
        mode: t(`datasets.modes.${l.mode ?? 'mask'}`),
      })
    }
    if (v.source === 'split' && l.split_from !== undefined) {
      return t('datasets.lineageSplit', {
        v: l.split_from,
        part: t(`datasets.labels.${l.part ?? v.label ?? 'train'}`),
        seed: l.seed ?? '—',
      })
    }
    return v.filename
  }
}
