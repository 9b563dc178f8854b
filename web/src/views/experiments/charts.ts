// The chart parts the experiment pages use, on top of the app's bar charts: lines, legends, zoom and parallel coordinates.
import '@/plugins/echarts'
import { use } from 'echarts/core'
import { LineChart, ParallelChart } from 'echarts/charts'
import { DataZoomComponent, LegendComponent, ParallelComponent } from 'echarts/components'

use([LineChart, ParallelChart, LegendComponent, DataZoomComponent, ParallelComponent])

export { PALETTE } from '@/views/gateway/charts'
