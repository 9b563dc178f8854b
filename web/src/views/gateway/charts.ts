// The chart parts the gateway pages use, on top of the app's bar charts: lines (with areas) and legends.
import '@/plugins/echarts'
import { use } from 'echarts/core'
import { LineChart } from 'echarts/charts'
import { LegendComponent } from 'echarts/components'

use([LineChart, LegendComponent])

export const PALETTE = [
  '#1f5fbf',
  '#2e9d6a',
  '#e0a100',
  '#c0392b',
  '#7e57c2',
  '#00838f',
  '#8d6e63',
  '#5c6bc0',
  '#9e9e9e',
]
