import { defineStore } from 'pinia'
import { ref } from 'vue'

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

  return { message, color, visible, notify }
})
