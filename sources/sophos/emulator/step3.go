package emulator

import "net/http"

// addStep3 registers the Common, Endpoint and Health Check routes (coming).
func (s *Server) addStep3(add func(string, access, func(http.ResponseWriter, *http.Request, *call))) {
}
