# Re-enumerates the host's disks (Update-HostStorageCache, a VDS rescan; hyperv-wmi.md section 8.3),
# so a LUN the array presented a moment ago is seen.
param([Parameter(Mandatory = $true)][string]$InputJson)
. (Join-Path $PSScriptRoot '_hvsnap.ps1') # hvsnap:helper
$null = ConvertFrom-HvsnapInput $InputJson
Update-HostStorageCache
ConvertTo-HvsnapJson ([ordered]@{ Rescanned = $true; Disks = @(Get-Disk).Count })
