# Waits more for a job that a script left running, then reports it and what it affected.
param([Parameter(Mandatory = $true)][string]$InputJson)
. (Join-Path $PSScriptRoot '_hvsnap.ps1') # hvsnap:helper
$in = ConvertFrom-HvsnapInput $InputJson

$waited = Wait-HvsnapJob -JobId ([string]$in.jobId) -WaitMs ([int]$in.waitMs)
$affected = @()
if ($in.affectedClass -and ($waited.Report.JobState -eq 7 -or $waited.Report.JobState -eq 32768)) {
  $key = 'InstanceID'
  if ($in.affectedKey) { $key = [string]$in.affectedKey }
  $affected = Get-HvsnapAffected $waited.Cim ([string]$in.affectedClass) $key
}
ConvertTo-HvsnapJson ([ordered]@{ Method = [string]$in.method; ReturnValue = 4096; Job = $waited.Report; Affected = $affected })
