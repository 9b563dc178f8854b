// The chart parts the training pages use, on top of the app's bar charts and the gateway's lines: points for sweep trials.
import '@/views/gateway/charts'
import { use } from 'echarts/core'
import { ScatterChart } from 'echarts/charts'

use([ScatterChart])

export { PALETTE } from '@/views/gateway/charts'
