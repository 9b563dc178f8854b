import { defineStore } from 'pinia'
import { ref } from 'vue'
import { problemDetail } from '@/api/client'

/** App-wide notices (one snackbar) shown after actions and on errors. */
export const useUiStore = defineStore('ui', () => {
  const message = ref('')
  const color = ref<'success' | 'error' | 'info'>('info')
  const visible = ref(false)

  function notify(text: string, kind: 'success' | 'error' | 'info' = 'info') {
    message.value = text
    color.value = kind
    visible.value = true
  }

  /** Run an action; report its failure (the API's `detail`) or, if given, a success message. True when it worked. */
  async function attempt(action: () => Promise<unknown>, success?: string): Promise<boolean> {
    try {
      await action()
      if (success) notify(success, 'success')
      return true
    } catch (e) {
      notify(problemDetail(e), 'error')
      return false
    }
  }

  return { message, color, visible, notify, attempt }
})
