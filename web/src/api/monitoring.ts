// The metric history from the browser (/api/monitoring/series): a stored series' points by name and labels over a
// time range, averaged per step. Dashboards of every monitoring page draw from it.
import { query, requestJson } from './http'

export interface SeriesData {
  labels: Record<string, string>
  /** [unix seconds of the step's start, the step's average] — steps without points are absent. */
  points: [number, number][]
}

export interface SeriesPage {
  step: number
  resolution: 'raw' | '1m' | '1h'
  series: SeriesData[]
}

/** Each series called `name` whose labels include `labels`, from `from` to `to` (unix seconds). */
export function fetchSeries(
  name: string,
  labels: Record<string, string>,
  from: number,
  to: number,
  step?: number,
): Promise<SeriesPage> {
  const params: Record<string, string | number | undefined> = {
    name,
    from: new Date(from * 1000).toISOString(),
    to: new Date(to * 1000).toISOString(),
    step,
  }
  for (const [key, value] of Object.entries(labels)) params[`label.${key}`] = value
  return requestJson<SeriesPage>('GET', `/api/monitoring/series${query(params)}`)
}

/** The names of the series kept. */
export const fetchSeriesNames = () => requestJson<string[]>('GET', '/api/monitoring/names')
