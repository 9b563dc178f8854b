/** A DataTable column. */
export interface Column<T = Record<string, unknown>> {
  key: string
  title: string
  /** Sortable unless false. */
  sortable?: boolean
  /** The reader may hide it in the column picker. */
  optional?: boolean
  /** Hidden until picked (implies optional). */
  hidden?: boolean
  align?: 'start' | 'end' | 'center'
  /** Let long text wrap instead of truncating it to one line with the full text on hover. */
  wrap?: boolean
  maxWidth?: string
  /** The value to sort and show by, when it is not `item[key]`. */
  value?: (item: T) => unknown
}

export interface SortItem {
  key: string
  order?: boolean | 'asc' | 'desc'
}
