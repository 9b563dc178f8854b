// The chart parts the dataset pages use, on top of the app's bar charts.
import '@/plugins/echarts'
import { use } from 'echarts/core'
import { PieChart } from 'echarts/charts'
import { LegendComponent } from 'echarts/components'

use([PieChart, LegendComponent])

export const PALETTE = ['#1f5fbf', '#2e9d6a', '#e0a100', '#c0392b', '#7e57c2', '#00838f', '#8d6e63']
